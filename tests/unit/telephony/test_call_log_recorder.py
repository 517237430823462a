"""The call-log observer: a call run through the real state machine becomes arrival,
steps and an end (with who hung up), published in order to the outbox."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.call_log.events import CallArrivalLogged, CallEndLogged, CallStepLogged
from services.call_log.record import Arrival, End, Step, summarize
from services.work_orders.outbox import MemoryOutbox
from telephony.call_log import CallLogRecorder
from telephony.calls import machine
from telephony.calls.model import (
    Call,
    CitizenEntered,
    KeyPressed,
    Leg,
    LegHungUp,
    LegRole,
    Notify,
    SeatAnswered,
    SeatOffered,
    TargetFailed,
)

CITIZEN = Leg("chan-citizen", LegRole.CITIZEN)


class Ticking:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


async def test_a_failed_transfer_call_is_logged_in_order_and_the_agent_hung_up():
    outbox, clock = MemoryOutbox(), Ticking()
    recorder = CallLogRecorder(outbox.publish_many, clock=clock)
    call = Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
                citizen_leg=CITIZEN, order_id="WO-20261201-000001",
                linked_order_id="PO-20261201-000001", origin_site="12345")
    recorder.call_opened(call)
    events = [CitizenEntered(), SeatOffered("1001")]
    for event in events:
        call = _step(recorder, call, event)
    call = _step(recorder, call, SeatAnswered(call.ringing_leg.id))
    agent = call.agent_leg
    call = _step(recorder, call, KeyPressed(agent.id, "*1"))
    call = _step(recorder, call, TargetFailed(call.target_leg.id, "busy"))
    call = _step(recorder, call, LegHungUp(agent.id))
    task = asyncio.create_task(recorder.run())
    while recorder.pending():
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    kinds = [(type(e).__name__, getattr(e, "step", "")) for e in outbox.events]
    assert kinds == [("CallArrivalLogged", ""), ("CallStepLogged", "seat_answered"),
                     ("CallStepLogged", "transfer_started"),
                     ("CallStepLogged", "transfer_failed"), ("CallEndLogged", "")]
    arrival, *steps, end = outbox.events
    assert isinstance(arrival, CallArrivalLogged) and isinstance(end, CallEndLogged)
    assert end.by == "agent" and steps[0].seat == "1001"
    row = summarize(
        Arrival(arrival.call_id, arrival.site, arrival.platform, arrival.origin_site,
                arrival.via_trunk, arrival.citizen_number, arrival.order_id,
                arrival.linked_order_id, arrival.at),
        [Step(s.step, s.at, s.seat, s.detail) for s in steps if isinstance(s, CallStepLogged)],
        End(end.at, end.by, end.state, end.taken_by))
    assert row["outcome"] == "transfer_failed" and row["ended_by"] == "agent"


def _step(recorder: CallLogRecorder, call: Call, event) -> Call:
    result = machine.step(call, event)
    for command in result.commands:
        if isinstance(command, Notify):
            recorder.notice(result.call, command.kind, command.detail)
    return result.call


async def test_a_stop_keeps_the_call_log_events_not_yet_published_in_order():
    class Stuck:
        async def __call__(self, events):
            await asyncio.Event().wait()   # a round trip that never returns

    recorder = CallLogRecorder(Stuck(), clock=Ticking())
    call = Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
                citizen_leg=CITIZEN, order_id="WO-20261201-000001",
                linked_order_id="PO-20261201-000001", origin_site="12345")
    recorder.call_opened(call)
    task = asyncio.create_task(recorder.run())
    await asyncio.sleep(0.05)   # the arrival is at the (stuck) outbox
    call = _step(recorder, call, CitizenEntered())
    call = _step(recorder, call, SeatOffered("1001"))
    call = _step(recorder, call, SeatAnswered(call.ringing_leg.id))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    kept = recorder.unpublished()
    assert [type(e).__name__ for e in kept] == ["CallArrivalLogged", "CallStepLogged"]
    assert recorder.pending() == 0
