"""The call log on the consumer's Core batch path writes exactly what its ORM handlers
(services/call_log/apply.py, the reference) write, row for row, in call_log and
call_log_steps, with the same refusals (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from services.call_log.apply import CallLog, CallLogQuery, CallNotLogged
from services.call_log.events import CallArrivalLogged, CallEndLogged, CallStepLogged
from services.call_log.models import CallLogRow, CallLogStepRow
from services.work_orders.db import make_engine, make_session_factory
from services.work_orders.events import SummaryUpdated
from services.work_orders.models import AppliedEvent
from services.work_orders.service import WorkOrderService

from .conftest import START
from .helpers import opened


def arrival(call_id: str, order_id: str, *, site: str = "12345", via_trunk: bool = False,
            at_s: float = 0, **kw) -> CallArrivalLogged:
    return CallArrivalLogged(call_id=call_id, site=site, platform=site, origin_site="12345",
                             via_trunk=via_trunk, citizen_number="13800138000",
                             order_id=order_id, linked_order_id=kw.pop("linked", ""),
                             at=START + timedelta(seconds=at_s), **kw)


def step(call_id: str, name: str, at_s: float, seat: str | None = None, **detail):
    return CallStepLogged(call_id=call_id, step=name, at=START + timedelta(seconds=at_s),
                          seat=seat, detail=detail)


def end(call_id: str, at_s: float, by: str = "citizen", taken_by: str | None = "12345"):
    return CallEndLogged(call_id=call_id, at=START + timedelta(seconds=at_s), by=by,
                         state="connected", taken_by=taken_by)


def calls_in_two_batches(service):
    """What controllers publish for five calls, interleaved with order events: a plain
    answered call, a hand-over with a failed transfer first, a three-way kept with *4,
    a hand-over arriving at 110 by trunk, an abandoned call; a step before its arrival,
    an arrival logged twice under another id, replays, equal times, late steps."""
    wo = opened(service)
    a = [arrival(f"c{n}", wo.order_id, at_s=n) for n in range(3)]
    trunk = arrival("p3", "PO-20261123-000003", site="110", via_trunk=True, at_s=40,
                    linked=wo.order_id)
    first = [
        wo, a[0],
        step("c0", "seat_answered", 4, "1001"),
        step("c9", "seat_answered", 5, "1001"),                  # not logged: refused
        step("c1", "seat_answered", 6, "1002"),                  # arrival later: refused
        a[1], step("c1", "seat_answered", 6, "1002"),
        step("c1", "transfer_started", 20, "1002", mode="handover", line=None),
        step("c1", "transfer_failed", 25, reason="busy"),
        step("c1", "transfer_started", 30, "1002", mode="handover", line=None),
        SummaryUpdated(order_id=wo.order_id, actor="seat:1001", at=START, summary="停水"),
        a[2], step("c2", "overflowed", 2, to="12345-b"),
        step("c2", "seat_answered", 9, "1003"), step("c2", "transfer_started", 15, "1003",
                                                     mode="three_way", line=None),
        step("c2", "three_way_joined", 15),                      # the same time: id decides
        arrival("c0", wo.order_id, event_id="again:c0"),        # logged already: a no-op
        trunk,
    ]
    first.append(first[2])                                       # re-emitted in the batch
    second = [
        first[2],                                                # replayed from batch one
        step("c1", "transfer_completed", 38),
        end("c1", 60, by="agent", taken_by="110"),
        step("p3", "seat_answered", 42, "2001"), end("p3", 90),
        step("c2", "negotiated", 50, "1003", key="*4"),
        step("c0", "agent_left", 70, "1001"), end("c0", 71, by="agent"),
        step("c0", "seat_answered", 3, "1009"),                  # late, earlier in time
        arrival("c4", "WO-20261123-000004", at_s=80),
        step("c4", "surge_offered", 85), step("c4", "callback_requested", 88),
        end("c4", 89), end("c4", 89),                            # the same end twice
        end("c2", 100),
    ]
    return first, second


T, F = True, False
EXPECTED = [
    [T, T, T, CallNotLogged, CallNotLogged, T, T, T, T, T, T, T, T, T, T, T, T, T, F],
    [F, T, T, T, T, T, T, T, T, T, T, T, T, F, T],
]


def outcome(result):
    return result if isinstance(result, bool) else type(result)


async def call_log_rows(service) -> dict[str, list[dict]]:
    out = {}
    async with service.session_factory() as session:
        for model, keys in ((CallLogRow, (CallLogRow.call_id,)),
                            (CallLogStepRow, (CallLogStepRow.call_id, CallLogStepRow.at,
                                              CallLogStepRow.id)),
                            (AppliedEvent, (AppliedEvent.event_id,))):
            rows = (await session.scalars(select(model).order_by(*keys))).all()
            out[model.__tablename__] = [
                {c.name: getattr(r, c.name) for c in model.__table__.columns
                 if c.name not in ("id", "applied_at")} for r in rows]
    return out


async def test_core_batches_write_the_call_log_the_orm_writes_row_for_row(
        new_database, clock, calendar):
    written = {}
    for path in ("apply_many_orm", "apply_many"):
        engine = make_engine(await new_database())
        service = WorkOrderService(make_session_factory(engine), clock, calendar)
        batches = written.setdefault("events", calls_in_two_batches(service))
        results = [await getattr(service, path)(batch) for batch in batches]
        assert [[outcome(r) for r in batch] for batch in results] == EXPECTED, path
        written[path] = await call_log_rows(service)
        await engine.dispose()
    core, orm = written["apply_many"], written["apply_many_orm"]
    for table in orm:
        assert core[table] == orm[table], table
    outcomes = {row["call_id"]: row["outcome"] for row in core["call_log"]}
    assert outcomes == {"c0": "answered", "c1": "handed_over", "c2": "three_way_kept",
                        "p3": "answered", "c4": "callback"}
    assert len(core["call_log_steps"]) == 21


async def test_arrival_and_its_steps_in_one_core_batch_are_summarized_once(service):
    events = [arrival("c1", "WO-20261123-000001"), step("c1", "seat_answered", 3.5, "1001"),
              end("c1", 33.5)]
    assert await service.apply_many(events) == [True, True, True]
    log = CallLog(service.session_factory)
    [row], _ = await log.search(CallLogQuery(), whole_numbers=True)
    assert (row["outcome"], row["wait_s"], row["handled_s"], row["seat"]) == (
        "answered", 3.5, 30.0, "1001")
    # a step for it in a later batch re-summarizes from every stored step
    assert await service.apply_many([step("c1", "overflowed", 1)]) == [True]
    [row], _ = await log.search(CallLogQuery())
    assert row["overflowed"] is True and row["outcome"] == "answered"


async def test_a_refused_step_does_not_cost_the_batch_its_other_events(service):
    wo, ghost = opened(service), step("ghost", "seat_answered", 1, "1001")
    results = await service.apply_many([wo, ghost, arrival("c1", wo.order_id), end("c1", 9)])
    assert [outcome(r) for r in results] == [True, CallNotLogged, True, True]
    assert isinstance(results[1], CallNotLogged) and results[1].status == 404
    rows, total = await CallLog(service.session_factory).search(CallLogQuery())
    assert total == 1 and rows[0]["outcome"] == "abandoned"
    assert (await service.record(wo.order_id))["order_id"] == wo.order_id
    assert not await service.was_applied(ghost.event_id)
