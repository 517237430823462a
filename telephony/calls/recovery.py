"""A controller adopts the calls Asterisk kept up while nobody controlled them
(after a restart, or when it takes a site over from a dead controller).

The transitions are the machine's: `(state, Recovered)` in machine.TRANSITIONS
names `recovered` below. Asterisk is trusted over the stored record: the record is
written in the background and may be a transition behind (a write that failed
just before the old controller died), while the bridge says who talks with the
citizen now. So who is in the call's bridge decides the state first; then a
transfer or a seat that was still ringing is called off (the agent can press
again), and a citizen left alone goes back to the waiting line. No leg that is in
its call's bridge is hung up here.
"""
from __future__ import annotations

from telephony.calls.model import (
    RINGING_TARGET,
    Call,
    CallEvent,
    CallState,
    Command,
    DestroyBridge,
    Finished,
    HangupLeg,
    Leg,
    LegHungUp,
    LegRole,
    Notice,
    Notify,
    Recovered,
    SeatFailed,
    StartRingback,
    Step,
    TargetFailed,
    TransferMode,
    WaitForSeat,
    case_keeper,
    other_platform,
    replace,
)

S = CallState


def _talking(call: Call, event: Recovered) -> tuple[Leg | None, Leg | None]:
    """The agent and the target Asterisk has in the call's bridge with the citizen."""
    known = {leg.id: leg for leg in (call.agent_leg, call.ringing_leg, call.target_leg) if leg}
    known.update({leg.id: leg for leg in event.stamped})
    parties = [known[leg_id] for leg_id in sorted(event.bridged)
               if leg_id != call.citizen_leg.id and leg_id in known]
    agent = next((leg for leg in parties if leg.role is LegRole.AGENT), None)
    target = next((leg for leg in parties if leg.role is LegRole.TARGET), None)
    return agent, target


def _bridge_trusted(call: Call, event: Recovered) -> Call:
    """The stored record made to say what the bridge says, where they differ: a seat
    stored as ringing that Asterisk has bridged is the agent; a target in the bridge
    means the call was handed over (or, with the agent there too, is a three-way)."""
    if call.citizen_leg.id not in event.bridged:
        return call
    agent, target = _talking(call, event)
    if agent is None and target is None:
        return call
    if agent == call.agent_leg and (target is None or (target == call.target_leg and call.state
                                                       in (S.THREE_WAY, S.HANDED_OVER))):
        return call   # the record agrees with Asterisk
    ringing = call.ringing_leg if call.ringing_leg not in (agent, target) else None
    if agent and target:
        return replace(call, state=S.THREE_WAY, agent_leg=agent, target_leg=target,
                       ringing_leg=ringing, transfer_mode=TransferMode.THREE_WAY,
                       bridge_id=call.bridge_name, reserved_seat=None)
    if agent:
        taken_by = call.platform if call.via_trunk else call.case_taken_by
        return replace(call, state=S.CONNECTED, agent_leg=agent, target_leg=None,
                       transfer_mode=None, ringing_leg=ringing, bridge_id=call.bridge_name,
                       reserved_seat=None, case_taken_by=taken_by, playing=None)
    mode = call.transfer_mode or (TransferMode(event.target_mode) if event.target_mode
                                  else TransferMode.HANDOVER)
    taken_by = other_platform(call.platform) if mode is TransferMode.HANDOVER else (
        call.case_taken_by)
    return replace(call, state=S.HANDED_OVER, agent_leg=None, target_leg=target,
                   transfer_mode=mode, ringing_leg=ringing, bridge_id=call.bridge_name,
                   reserved_seat=None, case_taken_by=taken_by)


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
    commands: list[Command] = [DestroyBridge(call.bridge_id)] if call.bridge_id else []
    commands += [HangupLeg(leg.id) for leg in call.live_legs if leg.id in alive]   # as _end
    commands += [Notify(Notice.CALL_ENDED, {"state": call.state.value,
                                            "taken_by": case_keeper(call)}), Finished()]
    return Step(replace(call, state=S.ENDED, ringing_leg=None, agent_leg=None, target_leg=None,
                        reserved_seat=None), tuple(commands))


def recovered(call: Call, event: Recovered) -> Step:
    """A stored call made consistent with the channels that still exist."""
    if call.citizen_leg.id not in event.alive:
        return _orphaned(call, event.alive)
    stored = call
    call = _bridge_trusted(call, event)
    # a seat answered that the record never heard of (the controller died before its write
    # landed): say so now, so the call log has the answer (late, and marked recovered)
    heard: list[Command] = []
    if stored.agent_leg is None and call.agent_leg is not None:
        heard.append(Notify(Notice.SEAT_ANSWERED, {"seat": call.agent_leg.seat,
                                                   "recovered": True}))
    call, stale_seat = _seat_called_off(call, event.alive)
    call, stale_target = _transfer_called_off(call, event.alive)
    call = _gone_legs_dropped(call, event.alive)
    call = replace(call, state=_state_for_legs(call))
    commands: list[Command] = [*heard, *(HangupLeg(leg_id) for leg_id in (*stale_seat,
                                                                          *stale_target)
                                         if leg_id not in event.bridged)]
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


def rebuilt(call_id: str, site: str, platform: str, citizen_leg: str, number: str,
            via_trunk: bool, orders: tuple[str, ...], legs: tuple[Leg, ...]) -> Call:
    """A call no stored record names, from what Asterisk holds alone: the bridge, the
    citizen's leg in it and the stamps of ours (call id, role, orders). Its state is then
    the bridge's, by `recovered`."""
    numbers = [int(leg.id.rsplit("-", 1)[-1][1:] or 0) for leg in legs
               if leg.id.rsplit("-", 1)[-1][1:].isdigit()]
    return Call(id=call_id, site=site, platform=platform, citizen_number=number,
                citizen_leg=Leg(citizen_leg, LegRole.CITIZEN), order_id=orders[0],
                linked_order_id=orders[1], origin_site=site, via_trunk=via_trunk,
                state=S.WAITING, bridge_id=f"{call_id}-b", attempts=max(numbers, default=0))
