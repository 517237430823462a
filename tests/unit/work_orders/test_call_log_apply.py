"""Call-log events through the outbox stream into the database: exactly once, in any
batch, on SQLite and PostgreSQL; and the log read back with its filters."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.call_log.apply import CallLog, CallLogQuery, CallNotLogged
from services.call_log.events import CallArrivalLogged, CallEndLogged, CallStepLogged
from services.work_orders.consumer import OutboxConsumer
from services.work_orders.events import OrderEvent
from services.work_orders.outbox import Outbox

from .conftest import START

NUMBER = "13800138000"


def call_events(call_id: str, order: str, *, answer_after: float | None, end_after: float,
                seat: str = "1001", number: str = NUMBER, site: str = "12345"):
    events = [CallArrivalLogged(call_id=call_id, site=site, platform=site, origin_site=site,
                                via_trunk=False, citizen_number=number, order_id=order,
                                linked_order_id="PO-20261123-000009", at=START)]
    if answer_after is None:
        events.append(CallStepLogged(call_id=call_id, step="abandoned",
                                     at=START + timedelta(seconds=end_after),
                                     detail={"waited_s": end_after}))
    else:
        events.append(CallStepLogged(call_id=call_id, step="seat_answered", seat=seat,
                                     at=START + timedelta(seconds=answer_after)))
    events.append(CallEndLogged(call_id=call_id, at=START + timedelta(seconds=end_after),
                                by="citizen", state="connected" if answer_after else "waiting",
                                taken_by=site))
    return events


def test_events_survive_the_json_of_the_stream():
    for event in call_events("c1", "WO-20261123-000001", answer_after=3, end_after=30):
        assert OrderEvent.from_json(event.to_json()) == event
    assert "13800138000" not in repr(call_events("c1", "WO-1", answer_after=1,
                                                 end_after=2)[0])


async def test_applied_once_even_when_replayed_and_batched(service, engine):
    events = call_events("c1", "WO-20261123-000001", answer_after=3.5, end_after=33.5)
    assert await service.apply_many(events) == [True, True, True]
    assert [await service.apply(e) for e in events] == [False, False, False]
    log = CallLog(service.session_factory)
    [row], total = await log.search(CallLogQuery())
    assert total == 1
    assert (row["outcome"], row["wait_s"], row["handled_s"], row["seat"], row["ended_by"]) == (
        "answered", 3.5, 30.0, "1001", "citizen")
    assert row["citizen_number"] != NUMBER and row["recording_ids"] is None
    assert [s["step"] for s in await log.steps("c1")] == ["seat_answered", "ended"]


async def test_a_step_before_its_call_is_refused_for_a_retry(service):
    step = CallStepLogged(call_id="nope", step="seat_answered", seat="1001", at=START)
    with pytest.raises(CallNotLogged):
        await service.apply(step)


async def test_filters_page_and_total(service):
    for i, (answer, end, seat, number) in enumerate([(2, 20, "1001", NUMBER),
                                                      (None, 9, "1001", NUMBER),
                                                      (4, 40, "1002", "13900139000")]):
        for event in call_events(f"c{i}", f"WO-20261123-00000{i}", answer_after=answer,
                                 end_after=end, seat=seat, number=number):
            await service.apply(event)
    log = CallLog(service.session_factory)

    async def ids(**kw):
        rows, total = await log.search(CallLogQuery(**kw))
        assert total == len(rows)
        return sorted(r["call_id"] for r in rows)

    assert await ids() == ["c0", "c1", "c2"]
    assert await ids(seat="1002") == ["c2"]
    assert await ids(number="+86" + NUMBER) == ["c0", "c1"]
    assert await ids(outcomes=["abandoned"]) == ["c1"]
    assert await ids(order_id="WO-20261123-000002") == ["c2"]
    assert await ids(order_id="PO-20261123-000009") == ["c0", "c1", "c2"]
    assert await ids(sites=["110"]) == []
    assert await ids(until=START) == []
    page, total = await log.search(CallLogQuery(), limit=2, offset=2)
    assert total == 3 and len(page) == 1
    rows = [r async for r in log.iter_rows(CallLogQuery(), batch=2, whole_numbers=True)]
    assert len(rows) == 3 and {r["citizen_number"] for r in rows} == {NUMBER, "13900139000"}
    [level] = await log.service_levels(["12345"], START, START + timedelta(hours=1))
    assert (level.offered, level.answered, level.abandoned) == (3, 2, 1)
    assert level.average_wait_s == round((2 + 9 + 4) / 3, 3)


async def test_through_the_real_stream_and_consumer(service, redis, tmp_path):
    outbox = Outbox(redis, tmp_path / "spool")
    for event in call_events("c9", "WO-20261123-000009", answer_after=1, end_after=5):
        assert await outbox.publish(event) == "stream"
    consumer = OutboxConsumer(redis, service, block_ms=10)
    await consumer.run_once(block=False)
    assert consumer.applied == 3 and consumer.dead == 0
    [row], _ = await CallLog(service.session_factory).search(CallLogQuery())
    assert row["outcome"] == "answered"
    await asyncio.sleep(0)
