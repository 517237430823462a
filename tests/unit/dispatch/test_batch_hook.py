"""The dispatch suggestion on the consumer's Core batches: the same rows the per-event
ORM hook writes, and a failure that costs the orders nothing."""
from datetime import timedelta

from sqlalchemy import select

from services.dispatch.models import OrderDispatch
from services.work_orders.db import make_engine, make_session_factory
from services.work_orders.events import StatusChanged, SummaryUpdated
from services.work_orders.levels import Calendar
from services.work_orders.service import WorkOrderService
from tests.unit.work_orders.helpers import opened

REGION = "410302"


def batch(orders, clock):
    """Opened with a summary, opened empty then summarised twice, a 110 order (no
    suggestion), and a status move (no new suggestion)."""
    first = opened(orders, summary="小区物业不管事，楼道里的垃圾一个月没人清理", region_code=REGION)
    second = opened(orders, summary="", region_code=REGION)
    police = opened(orders, "110", summary="有人打架", region_code=REGION)
    later = clock.now + timedelta(minutes=1)
    return [first, second, police,
            SummaryUpdated(order_id=second.order_id, actor="a", at=later,
                           summary="公司拖欠我三个月工资不发"),
            SummaryUpdated(order_id=second.order_id, actor="a", at=later,
                           summary="家里暖气一点都不热"),
            StatusChanged(order_id=first.order_id, to_status="assigned", actor="a", at=later,
                          department="d")]


async def dispatch_rows(engine):
    async with make_session_factory(engine)() as session:
        rows = (await session.scalars(select(OrderDispatch).order_by(OrderDispatch.order_id)))
        return [{c.name: getattr(r, c.name) for c in OrderDispatch.__table__.columns}
                for r in rows.all()]


async def test_a_core_batch_suggests_what_the_orm_hook_suggests(new_database, clock, suggester):
    from services.dispatch.service import DispatchService

    written, events = {}, None
    for path in ("apply_many_orm", "apply_many"):
        engine = make_engine(await new_database())
        dispatch = DispatchService(make_session_factory(engine), clock, suggester)
        catalogue = suggester.catalogue
        await dispatch.import_catalogue(catalogue.departments.values(), catalogue.items)
        orders = WorkOrderService(make_session_factory(engine), clock, Calendar(),
                                  after_apply=[dispatch.after_apply],
                                  after_batch=[dispatch.after_batch])
        events = events or batch(orders, clock)
        assert all(r is True for r in await getattr(orders, path)(events))
        written[path] = await dispatch_rows(engine)
        await engine.dispose()
    assert written["apply_many"] == written["apply_many_orm"]
    departments = [row["suggested"] for row in written["apply_many"]]
    assert len(departments) == 2 and "gas_heat_company" in departments


async def test_a_failing_suggester_costs_the_batch_its_suggestions_not_its_orders(
        orders, dispatch, clock):
    class Broken:
        catalogue = dispatch.suggester.catalogue

        def suggest(self, *args):
            raise RuntimeError("boom")

    dispatch.suggester = Broken()
    fast = WorkOrderService(orders.session_factory, clock, Calendar(),
                            after_batch=[dispatch.after_batch])
    events = batch(fast, clock)
    assert all(r is True for r in await fast.apply_many(events))
    assert (await fast.record(events[0].order_id))["status"] == "assigned"
    assert (await dispatch.of_order(events[0].order_id))["suggestion"] is None
