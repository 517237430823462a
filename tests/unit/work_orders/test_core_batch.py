"""The consumer's Core batch path writes exactly what the ORM path writes, row for row,
applies each event once, and rolls a refused event back alone (SQLite and PostgreSQL)."""
from datetime import timedelta

from sqlalchemy import select

from services.work_orders.db import make_engine, make_session_factory
from services.work_orders.errors import IllegalTransition, InvalidOrder, OrderNotFound
from services.work_orders.events import (
    NegotiationRecorded,
    OrderOpened,
    OrderTransferred,
    StatusChanged,
    SummaryUpdated,
    TransferFailed,
)
from services.work_orders.ids import new_order_id
from services.work_orders.models import AppliedEvent, AuditEntry, Order, OrderLink
from services.work_orders.service import WorkOrderService

from .helpers import opened

STRAY = "WO-20261123-000000000000"   # nobody opened it


def life_of_three_calls(service, clock):
    """Two batches of what controllers and agents emit: opened orders, summaries that change
    the category (and so the level), a hand-over with the far platform's own call arriving
    after it, a three-way, a failed transfer, status moves with feedback, refusals."""
    wo1, wo2, wo3 = (opened(service, summary="漏水" if n == 0 else "", category="other")
                     for n in range(3))
    po1, po3 = new_order_id("110", clock.now), new_order_id("110", clock.now + timedelta(1))
    at = clock.now + timedelta(minutes=1)
    first = [
        wo1, wo2, wo3,
        SummaryUpdated(order_id=wo1.order_id, actor="seat:1001", at=at, summary="水管破裂",
                       category="water"),
        StatusChanged(order_id=STRAY, to_status="assigned", actor="a", at=at),   # not found
        OrderTransferred(source_order_id=wo1.order_id, target_order_id=po1, target_platform="110",
                         mode="handover", actor="seat:1001", at=at),
        opened(service, "110", order_id=po1, call_id="call-po1", summary="从12345转来"),
        NegotiationRecorded(order_id=wo2.order_id, actor="seat:1002", key="*4", at=at,
                            outcome="12345"),
        TransferFailed(order_id=wo2.order_id, reason="busy", at=at, target_platform="110"),
        StatusChanged(order_id=wo3.order_id, to_status="rejected", actor="a", at=at),
        # refused after it opened the target and numbered an entry: all of it rolls back
        OrderTransferred(source_order_id=wo3.order_id, target_order_id=po3,
                         target_platform="110", mode="three_way", actor="seat:1003", at=at),
        NegotiationRecorded(order_id=wo3.order_id, actor="system", key="", at=at),
        StatusChanged(order_id=wo2.order_id, to_status="assigned", actor="a", at=at),  # no dept
        StatusChanged(order_id=wo2.order_id, to_status="assigned", actor="a", at=at,
                      department="城关区住建局"),
    ]
    first.append(first[3])                                  # a re-emitted event in the batch
    later = at + timedelta(minutes=5)
    second = [
        first[7],                                           # replayed from an earlier batch
        StatusChanged(order_id=po1, to_status="closed", actor="b", at=later, outcome="已出警"),
        SummaryUpdated(order_id=wo2.order_id, actor="seat:1002", at=later, level="24h"),
        SummaryUpdated(order_id=wo2.order_id, actor="seat:1002", at=later, category="water"),
        StatusChanged(order_id=wo2.order_id, to_status="closed", actor="a", at=later),  # illegal
    ]
    return first, second


EXPECTED = [
    [True] * 4 + [OrderNotFound, True, True, True, True, True, IllegalTransition, True,
                  InvalidOrder, True, False],
    [False, True, True, True, IllegalTransition],
]


async def table_rows(service):
    async with service.session_factory() as session:
        out = {}
        for model, key in ((Order, Order.order_id), (AuditEntry, (AuditEntry.order_id,
                                                                    AuditEntry.seq)),
                           (OrderLink, OrderLink.source_order_id), (AppliedEvent,
                                                                    AppliedEvent.event_id)):
            keys = key if isinstance(key, tuple) else (key,)
            rows = (await session.scalars(select(model).order_by(*keys))).all()
            out[model.__tablename__] = [
                {c.name: getattr(r, c.name) for c in model.__table__.columns if c.name != "id"}
                for r in rows]
    return out


def outcome(result):
    return result if isinstance(result, bool) else type(result)


async def test_core_batches_write_what_the_orm_writes_row_for_row(new_database, clock, calendar):
    written = {}
    for path in ("apply_many_orm", "apply_many"):
        engine = make_engine(await new_database())
        service = WorkOrderService(make_session_factory(engine), clock, calendar)
        first, second = life_of_three_calls(service, clock)
        if path == "apply_many":   # the same events, not fresh ids
            first, second = written["events"]
        written["events"] = (first, second)
        results = [await getattr(service, path)(batch) for batch in (first, second)]
        assert [[outcome(r) for r in batch] for batch in results] == EXPECTED, path
        written[path] = await table_rows(service)
        await engine.dispose()
    core, orm = written["apply_many"], written["apply_many_orm"]
    for table in orm:
        assert core[table] == orm[table], table
    audit = core["order_audit"]
    assert len(audit) > 15 and len(core["orders"]) == 4 and len(core["order_links"]) == 1


async def test_every_audit_trail_stays_numbered_in_order_after_a_refusal(service, clock):
    first, _ = life_of_three_calls(service, clock)
    await service.apply_many(first)
    wo3 = first[2].order_id
    history = (await service.record(wo3))["history"]
    assert [entry["seq"] for entry in history] == [1, 2, 3]
    assert [entry["kind"] for entry in history] == ["status", "status", "negotiation"]


async def test_an_event_kind_without_a_core_handler_is_applied_in_order_by_the_orm(
        service, clock, monkeypatch):
    from services.work_orders.service import batch_events

    event = opened(service)
    summary = SummaryUpdated(order_id=event.order_id, actor="a", at=clock.now, summary="s")
    monkeypatch.delitem(batch_events.CORE_EVENTS, SummaryUpdated)
    assert await service.apply_many([event, summary, summary]) == [True, True, False]
    assert (await service.record(event.order_id))["summary"] == "s"


async def test_a_malformed_field_is_refused_alone_not_retried_forever(service, clock):
    bad = opened(service, level="forever")
    good = opened(service)
    results = await service.apply_many([bad, good])
    assert isinstance(results[0], InvalidOrder) and results[1] is True
    assert isinstance(bad, OrderOpened)
