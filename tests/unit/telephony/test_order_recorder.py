"""The order recorder: stable event ids, and a bounded publish queue that spills, in order."""
import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from services.work_orders.outbox import OVERFLOW_NAME, Spool
from telephony.calls.model import Call, CallState, Leg, LegRole, Notice
from telephony.orders import OrderRecorder

AT = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
CALL = Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
            citizen_leg=Leg("cit", LegRole.CITIZEN), order_id="WO-20261123-0000000000A1",
            linked_order_id="PO-20261123-0000000000B1", origin_site="12345",
            state=CallState.CONNECTED, agent_leg=Leg("c1-s1", LegRole.AGENT, "1001"),
            attempts=1)


class Publisher:
    """Collects what the recorder publishes; `gate` holds the publisher back (a stuck outbox)."""

    def __init__(self) -> None:
        self.events = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, events) -> str:
        await self.gate.wait()
        self.events.extend(events)
        return "memory"


def recorder(publish=None, **kwargs) -> OrderRecorder:
    return OrderRecorder(publish or Publisher(), {"12345": "410300", "110": "410300"},
                         clock=lambda: AT, **kwargs)


def queued(rec: OrderRecorder) -> list:
    return list(rec._queue._queue)   # what run() would publish next, in order


def test_a_notice_emitted_again_after_a_restart_has_the_same_event_id():
    first, restarted = recorder(), recorder()   # the restarted controller adopted the call
    for rec in (first, restarted):
        rec.notice(CALL, Notice.TRANSFER_FAILED, {"reason": "busy", "mode": "handover"})
        rec.notice(CALL, Notice.NEGOTIATED, {"key": "*3", "taken_by": "110", "seat": "1001"})
        rec.notice(CALL, Notice.ABANDONED, {"waited_s": 12})
    ids = [e.event_id for e in queued(first)]
    assert ids == [e.event_id for e in queued(restarted)]
    assert len(set(ids)) == 4 and all(i.startswith(CALL.order_id) for i in ids)


def test_the_same_notice_for_a_later_leg_is_a_new_event():
    rec = recorder()
    rec.notice(CALL, Notice.TRANSFER_FAILED, {"reason": "busy", "mode": "handover"})
    rec.notice(replace(CALL, attempts=2), Notice.TRANSFER_FAILED,
               {"reason": "busy", "mode": "handover"})
    first, second = queued(rec)
    assert first.event_id != second.event_id


def test_summaries_rewritten_back_and_forth_are_each_applied_but_a_repeat_is_not():
    rec, again = recorder(), recorder()
    for text in ("漏水", "水管破裂", "漏水"):
        rec.summary(CALL, text, "water", "agent:1001")
    again.summary(CALL, "漏水", "water", "agent:1001")   # the first one, emitted again
    ids = [e.event_id for e in queued(rec)]
    assert len(set(ids)) == 3
    assert queued(again)[0].event_id == ids[0]


async def test_a_full_queue_spills_to_the_overflow_file_and_everything_is_published_in_order(
        tmp_path):
    publish = Publisher()
    rec = recorder(publish, overflow=Spool(tmp_path, OVERFLOW_NAME, durable=False), bound=2)
    for n in range(6):                                    # the publisher has not caught up
        rec.summary(replace(CALL, id=f"c{n}", order_id=f"WO-20261123-00000000000{n}"),
                    f"summary {n}", None, "agent:1001")
    assert [e.summary for e in queued(rec)] == ["summary 0", "summary 1"]
    assert len((tmp_path / OVERFLOW_NAME).read_text().splitlines()) == 4
    assert rec.pending() == 6
    task = asyncio.create_task(rec.run())
    overflow = Spool(tmp_path, OVERFLOW_NAME)
    assert rec.spilling
    for _ in range(500):   # published, the drained file set aside, back to the queue
        if len(publish.events) == 6 and not rec.spilling:
            break
        await asyncio.sleep(0.01)
    assert [e.summary for e in publish.events] == [f"summary {n}" for n in range(6)]
    assert rec.pending() == 0 and not overflow.pending()
    rec.summary(CALL, "after", None, "agent:1001")       # back to the queue
    assert [e.summary for e in queued(rec)] == ["after"]
    task.cancel()


async def test_while_spilling_new_events_go_behind_the_spilled_ones(tmp_path):
    publish = Publisher()
    publish.gate.clear()                                  # the outbox is stuck
    rec = recorder(publish, overflow=Spool(tmp_path, OVERFLOW_NAME, durable=False), bound=1)
    task = asyncio.create_task(rec.run())
    for n in range(3):
        rec.summary(CALL, f"s{n}", None, "agent:1001")
        await asyncio.sleep(0.01)                         # the publisher takes one, then waits
    publish.gate.set()
    for n in range(3, 5):
        rec.summary(CALL, f"s{n}", None, "agent:1001")
    for _ in range(200):
        if len(publish.events) == 5:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert [e.summary for e in publish.events] == [f"s{n}" for n in range(5)]


async def test_an_overflow_left_by_an_earlier_run_is_published_before_new_events(tmp_path):
    earlier = recorder(overflow=Spool(tmp_path, OVERFLOW_NAME, durable=False), bound=1)
    earlier.summary(CALL, "one", None, "agent:1001")
    earlier.summary(CALL, "two", None, "agent:1001")      # spilled; then the process died
    publish = Publisher()
    rec = recorder(publish, overflow=Spool(tmp_path, OVERFLOW_NAME, durable=False), bound=1)
    assert rec.pending() == 1
    rec.summary(CALL, "three", None, "agent:1001")        # after the restart: behind "two"
    task = asyncio.create_task(rec.run())
    for _ in range(200):
        if len(publish.events) == 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert [e.summary for e in publish.events] == ["two", "three"]


async def _stopped(rec: OrderRecorder, task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_stop_in_the_gather_window_keeps_every_event_in_order():
    publisher = Publisher()
    rec = recorder(publisher)
    rec.notice(CALL, Notice.TRANSFER_FAILED, {"reason": "busy", "mode": "handover"})
    rec.notice(CALL, Notice.ABANDONED, {"waited_s": 12})
    ids = [e.event_id for e in queued(rec)]
    task = asyncio.create_task(rec.run())
    while not rec._hand:   # run() took the first event and waits for more
        await asyncio.sleep(0)
    await _stopped(rec, task)
    assert publisher.events == []
    assert rec.pending() == 2
    assert [e.event_id for e in rec.unpublished()] == ids
    assert rec.pending() == 0 and rec.unpublished() == []


async def test_a_stop_while_the_outbox_holds_a_batch_keeps_it_before_later_events():
    publisher = Publisher()
    publisher.gate.clear()   # the round trip never returns
    rec = recorder(publisher)
    rec.notice(CALL, Notice.TRANSFER_FAILED, {"reason": "busy", "mode": "handover"})
    task = asyncio.create_task(rec.run())
    while not (rec._hand and rec._queue.empty()):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)   # past the gather window: the batch is at the outbox
    rec.notice(CALL, Notice.ABANDONED, {"waited_s": 12})
    await _stopped(rec, task)
    assert [type(e).__name__ for e in rec.unpublished()] == ["TransferFailed", "SummaryUpdated"]


async def test_a_published_batch_is_not_kept_again():
    publisher = Publisher()
    rec = recorder(publisher)
    rec.notice(CALL, Notice.TRANSFER_FAILED, {"reason": "busy", "mode": "handover"})
    task = asyncio.create_task(rec.run())
    while not publisher.events:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0)
    await _stopped(rec, task)
    assert rec.unpublished() == [] and rec.pending() == 0
