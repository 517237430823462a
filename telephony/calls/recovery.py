"""A restarted controller adopts the calls Asterisk kept up while it was away.

The transitions are the machine's: `(state, Recovered)` in machine.TRANSITIONS
names `recovered` below. Stable calls go on as they were; a transfer or a seat
that was ringing is called off (the agent can press again); a citizen left
alone goes back to the waiting line. Nobody is hung up on.
"""
from __future__ import annotations

from dataclasses import replace

from telephony.calls.model import (
    RINGING_TARGET,
    Call,
    CallEvent,
    CallState,
    Command,
    DestroyBridge,
    Finished,
    HangupLeg,
    LegHungUp,
    Notice,
    Notify,
    Recovered,
    SeatFailed,
    StartRingback,
    Step,
    TargetFailed,
    WaitForSeat,
    case_keeper,
)

S = CallState


def _seat_called_off(call: Call, alive: frozenset[str]) -> tuple[Call, list[str]]:
    """A seat that was ringing: nobody waits on it now; the citizen waits again."""
    if call.ringing_leg is None:
        return call, []
    stale = [call.ringing_leg.id] if call.ringing_leg.id in alive else []
    state = S.WAITING if call.state is S.RINGING_SEAT else call.state
    return replace(call, ringing_leg=None, state=state), stale


def _transfer_called_off(call: Call, alive: frozenset[str]) -> tuple[Call, list[str]]:
    """A target that was ringing: the agent (or, blind, the waiting line) has the citizen."""
    if call.state not in RINGING_TARGET:
        return call, []
    target = call.target_leg
    stale = [target.id] if target and target.id in alive else []
    state = S.WAITING if call.state is S.BLIND_RINGING else S.CONNECTED
    return replace(call, target_leg=None, transfer_mode=None, state=state), stale


def _gone_legs_dropped(call: Call, alive: frozenset[str]) -> Call:
    if call.agent_leg and call.agent_leg.id not in alive:
        call = replace(call, agent_leg=None)
    if call.target_leg and call.target_leg.id not in alive:
        call = replace(call, target_leg=None, transfer_mode=None)
    return call


def _state_for_legs(call: Call) -> CallState:
    """The state the remaining legs make: a three-way short of a party, or a citizen alone."""
    state = call.state
    if state is S.THREE_WAY and not call.target_leg:
        state = S.CONNECTED
    elif state is S.THREE_WAY and not call.agent_leg:
        state = S.HANDED_OVER
    if state in (S.CONNECTED, S.HANDED_OVER) and not (call.agent_leg or call.target_leg):
        state = S.WAITING   # alone in the bridge: back to the line
    return state


def _orphaned(call: Call, alive: frozenset[str]) -> Step:
    """The citizen left while we were away: end what is left of the call."""
    commands: list[Command] = [HangupLeg(leg.id) for leg in call.live_legs if leg.id in alive]
    if call.bridge_id:
        commands.append(DestroyBridge(call.bridge_id))
    commands += [Notify(Notice.CALL_ENDED, {"state": call.state.value,
                                            "taken_by": case_keeper(call)}), Finished()]
    return Step(replace(call, state=S.ENDED, ringing_leg=None, agent_leg=None, target_leg=None,
                        reserved_seat=None), tuple(commands))


def recovered(call: Call, event: Recovered) -> Step:
    """A stored call made consistent with the channels that still exist."""
    if call.citizen_leg.id not in event.alive:
        return _orphaned(call, event.alive)
    call, stale_seat = _seat_called_off(call, event.alive)
    call, stale_target = _transfer_called_off(call, event.alive)
    call = _gone_legs_dropped(call, event.alive)
    call = replace(call, state=_state_for_legs(call))
    commands: list[Command] = [HangupLeg(leg_id) for leg_id in (*stale_seat, *stale_target)]
    if call.state is S.WAITING:
        commands += [StartRingback(call.citizen_leg.id), WaitForSeat()]
    return Step(call, tuple(commands))


def vanished(call: Call, alive: set[str]) -> list[CallEvent]:
    """After a reconnection: what the call hears of its legs that vanished unheard."""
    if call.citizen_leg.id not in alive:
        return [LegHungUp(call.citizen_leg.id)]
    events: list[CallEvent] = []
    if call.ringing_leg and call.ringing_leg.id not in alive:
        events.append(SeatFailed(call.ringing_leg.id, "unreachable"))
    if call.target_leg and call.target_leg.id not in alive:
        events.append(TargetFailed(call.target_leg.id, "unreachable")
                      if call.state in RINGING_TARGET else LegHungUp(call.target_leg.id))
    if call.agent_leg and call.agent_leg.id not in alive:
        events.append(LegHungUp(call.agent_leg.id))
    return events
