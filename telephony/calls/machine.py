"""The call state machine: (state, event) -> Step(next call, commands).

Pure functions in one table. An event a state does not expect raises
`IllegalTransition`; the controller logs it and leaves the call as it was.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from telephony.calls.model import (
    Answer,
    BridgeLegs,
    Call,
    CallEvent,
    CallState,
    CitizenEntered,
    DestroyBridge,
    Finished,
    HangupLeg,
    LeaveWaitingLine,
    Leg,
    LegHungUp,
    LegRole,
    ReleaseSeat,
    RingSeat,
    SeatAnswered,
    SeatFailed,
    SeatOffered,
    StartRingback,
    Step,
    StopRingback,
    WaitForSeat,
)

S = CallState


class IllegalTransition(Exception):
    def __init__(self, call: Call, event: CallEvent):
        super().__init__(f"call {call.id}: {type(event).__name__} not allowed in {call.state.value}")
        self.call = call
        self.event = event


def order_headers(call: Call) -> tuple[tuple[str, str], ...]:
    """What every seat leg carries so the seat sees the linked work order."""
    return (
        ("X-Work-Order", call.order_id),
        ("X-Origin-Site", call.site),
        ("Call-Info", f"<urn:hotline-link:incidentid:{call.order_id}>;purpose=emergency-IncidentId"),
    )


def _arrive(call: Call, _: CitizenEntered) -> Step:
    return Step(replace(call, state=S.WAITING),
                (Answer(call.citizen_leg.id), StartRingback(call.citizen_leg.id), WaitForSeat()))


def _ring_seat(call: Call, event: SeatOffered) -> Step:
    leg = Leg(id=f"{call.id}-s{call.attempts + 1}", role=LegRole.AGENT, seat=event.seat)
    return Step(replace(call, state=S.RINGING_SEAT, ringing_leg=leg, attempts=call.attempts + 1),
                (RingSeat(event.seat, leg.id, call.citizen_number, order_headers(call)),))


def _seat_answered(call: Call, event: SeatAnswered) -> Step:
    leg = call.ringing_leg
    if leg is None or leg.id != event.leg_id:
        raise IllegalTransition(call, event)
    bridge_id = f"{call.id}-b"
    return Step(replace(call, state=S.CONNECTED, agent_leg=leg, ringing_leg=None, bridge_id=bridge_id),
                (StopRingback(call.citizen_leg.id),
                 BridgeLegs(bridge_id, (call.citizen_leg.id, leg.id))))


def _seat_failed(call: Call, event: SeatFailed) -> Step:
    leg = call.ringing_leg
    if leg is None or leg.id != event.leg_id:
        raise IllegalTransition(call, event)
    # the citizen keeps waiting; another seat (or this one, later) is tried
    return Step(replace(call, state=S.WAITING, ringing_leg=None),
                (ReleaseSeat(leg.seat or "", failed=True), WaitForSeat()))


def _hung_up(call: Call, event: LegHungUp) -> Step:
    """Whoever leaves first ends the call; every other leg and resource goes with it."""
    commands: list = []
    if call.state is S.WAITING:
        commands.append(LeaveWaitingLine())
    for leg in call.live_legs:
        if leg.id != event.leg_id:
            commands.append(HangupLeg(leg.id))
        if leg.seat:
            commands.append(ReleaseSeat(leg.seat))
    if call.bridge_id:
        commands.append(DestroyBridge(call.bridge_id))
    commands.append(Finished())
    return Step(replace(call, state=S.ENDED, ringing_leg=None, agent_leg=None), tuple(commands))


def _stale_offer(call: Call, event: SeatOffered) -> Step:
    """A seat offered after the call moved on goes straight back."""
    return Step(call, (ReleaseSeat(event.seat),))


def _late_answer(call: Call, event: SeatAnswered) -> Step:
    """A seat that answers after the citizen left is hung up, not left dangling."""
    return Step(call, (HangupLeg(event.leg_id),))


def _ignore(call: Call, _: CallEvent) -> Step:
    return Step(call)


Handler = Callable[[Call, CallEvent], Step]

TRANSITIONS: dict[tuple[CallState, type], Handler] = {
    (S.ARRIVED, CitizenEntered): _arrive,
    (S.ARRIVED, LegHungUp): _hung_up,
    (S.WAITING, SeatOffered): _ring_seat,
    (S.WAITING, LegHungUp): _hung_up,
    (S.RINGING_SEAT, SeatAnswered): _seat_answered,
    (S.RINGING_SEAT, SeatFailed): _seat_failed,
    (S.RINGING_SEAT, LegHungUp): _hung_up,
    (S.RINGING_SEAT, SeatOffered): _stale_offer,
    (S.CONNECTED, LegHungUp): _hung_up,
    (S.CONNECTED, SeatOffered): _stale_offer,
    (S.ENDED, SeatOffered): _stale_offer,
    (S.ENDED, LegHungUp): _ignore,
    (S.ENDED, SeatFailed): _ignore,
    (S.ENDED, SeatAnswered): _late_answer,
}


def step(call: Call, event: CallEvent) -> Step:
    handler = TRANSITIONS.get((call.state, type(event)))
    if handler is None:
        raise IllegalTransition(call, event)
    return handler(call, event)
