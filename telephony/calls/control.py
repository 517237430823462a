"""Call control from the desk, as transitions of the call's own machine: hold and unhold,
mute and unmute, hanging up one leg, and a callback placed to a citizen.

Pure functions, named by `machine.TRANSITIONS`. A request the call cannot take now
(hold with nobody answering, unmute when not muted, a leg the call does not have) is
refused with a `control_refused` notice and changes nothing, so the desk's
`allowed_actions` (each request stepped through the machine) never offers it.

Hanging up a leg only asks the switch to hang it up: the leg's own hang-up event then
moves the call exactly as if that party had hung up (the agent leaving a two-way call
ends it; an invited seat leaving a three-way returns it to two-way; the citizen leaving
ends the call).
"""
from __future__ import annotations

from telephony.calls.model import (
    Call,
    CallbackPlaced,
    CallState,
    CitizenAnswered,
    CitizenUnreached,
    Finished,
    HangupLeg,
    HangupRequested,
    HoldLeg,
    HoldRequested,
    Leg,
    LegRole,
    MuteLeg,
    MuteRequested,
    Notice,
    Notify,
    ReleaseSeat,
    RingCitizen,
    RingSeat,
    StartRingback,
    Step,
    UnholdLeg,
    UnmuteLeg,
    WaitForSeat,
    order_headers,
    replace,
)

S = CallState
N = Notice
# an agent's voice can be muted while they are in the bridge with the citizen
MUTABLE = (S.CONNECTED, S.TRANSFER_RINGING, S.THREE_WAY_RINGING, S.THREE_WAY)


def refused(call: Call, action: str, why: str) -> Step:
    return Step(call, (Notify(N.CONTROL_REFUSED, {"action": action, "state": call.state.value,
                                                  "why": why}),))


def hold(call: Call, event: HoldRequested) -> Step:
    """Hold: music for the citizen on their own leg; unhold stops it. Only in a two-way
    call: during a transfer or a three-way, other people talk to the citizen."""
    leg = call.citizen_leg.id
    seat = call.agent_leg.seat if call.agent_leg else None
    if event.on:
        if call.on_hold:
            return refused(call, "hold", "the citizen is on hold already")
        if call.state is not S.CONNECTED:
            return refused(call, "hold", "hold needs a two-way call")
        return Step(replace(call, on_hold=True), (HoldLeg(leg), Notify(N.HELD, {"seat": seat})))
    if not call.on_hold:
        return refused(call, "unhold", "the citizen is not on hold")
    return Step(replace(call, on_hold=False), (UnholdLeg(leg), Notify(N.UNHELD, {"seat": seat})))


def mute(call: Call, event: MuteRequested) -> Step:
    """Mute the agent's voice (the agent still hears the call)."""
    agent = call.agent_leg
    action = "mute" if event.on else "unmute"
    if agent is None or call.state not in MUTABLE:
        return refused(call, action, "no agent in the call")
    if event.on == call.muted:
        return refused(call, action, "muted already" if event.on else "not muted")
    command = MuteLeg(agent.id) if event.on else UnmuteLeg(agent.id)
    return Step(replace(call, muted=event.on),
                (command, Notify(N.MUTED if event.on else N.UNMUTED, {"seat": agent.seat})))


def hangup_leg(call: Call, event: HangupRequested) -> Step:
    legs = {LegRole.CITIZEN: call.citizen_leg, LegRole.AGENT: call.agent_leg,
            LegRole.TARGET: call.target_leg}
    leg = legs.get(event.role)
    if leg is None:
        return refused(call, f"hangup_{event.role.value}",
                       f"the call has no {event.role.value} leg now")
    return Step(call, (HangupLeg(leg.id),
                       Notify(N.LEG_HANGUP_REQUESTED, {"role": event.role.value,
                                                       "seat": leg.seat})))


def after_control(before: Call, step: Step) -> Step:
    """Hold and mute belong to a two-way call and to the agent's leg: when the call leaves
    them behind (a transfer starts, the agent goes), the music stops and the flag goes."""
    call, commands = step.call, step.commands
    if call.on_hold and call.state is not S.CONNECTED:
        if call.state is not S.ENDED:
            commands = (UnholdLeg(call.citizen_leg.id), *commands)
        call = replace(call, on_hold=False)
    if call.muted and (call.agent_leg is None or call.agent_leg != before.agent_leg):
        call = replace(call, muted=False)
    return step if call is step.call else Step(call, commands)


# ---- callbacks ------------------------------------------------------------------------
def callback_placed(call: Call, event: CallbackPlaced) -> Step:
    """Ring the citizen showing the hotline's number; `seat` (the agent who placed it) is
    kept for them meanwhile."""
    ring = RingCitizen(call.citizen_leg.id, call.citizen_number, call.platform,
                       order_headers(call))
    return Step(replace(call, state=S.DIALING_CITIZEN, reserved_seat=event.seat),
                (ring, Notify(N.CALLBACK_DIALING, {"seat": event.seat})))


def citizen_answered(call: Call, event: CitizenAnswered) -> Step:
    """The citizen picked up: music while the kept seat (or the line's next) rings; from
    here the call is like any answered citizen's."""
    if event.leg_id != call.citizen_leg.id:
        return Step(call, (HangupLeg(event.leg_id),))
    leg_id = call.citizen_leg.id
    notice = Notify(N.CALLBACK_ANSWERED, {"seat": call.reserved_seat})
    if call.reserved_seat is None:
        return Step(replace(call, state=S.WAITING),
                    (StartRingback(leg_id), WaitForSeat(), notice))
    seat = Leg(id=call.next_leg_id("s"), role=LegRole.AGENT, seat=call.reserved_seat)
    ring = RingSeat(call.reserved_seat, seat.id, call.citizen_number, order_headers(call))
    return Step(replace(call, state=S.RINGING_SEAT, ringing_leg=seat, reserved_seat=None,
                        attempts=call.attempts + 1),
                (StartRingback(leg_id), ring, notice))


def citizen_unreached(call: Call, event: CitizenUnreached) -> Step:
    commands = [Notify(N.CALLBACK_FAILED, {"reason": event.reason})]
    if call.reserved_seat:
        commands.insert(0, ReleaseSeat(call.reserved_seat))
    return Step(replace(call, state=S.ENDED, reserved_seat=None),
                (*commands, Notify(N.CALL_ENDED, {"state": call.state.value,
                                                  "taken_by": call.platform}), Finished()))


def late_citizen_answer(call: Call, event: CitizenAnswered) -> Step:
    """The callback was called off before the citizen picked up: hang the leg up."""
    return Step(call, (HangupLeg(event.leg_id),))


def _ignore(call: Call, _event: object) -> Step:
    return Step(call)


def transitions(live: tuple[CallState, ...]) -> dict:
    """This module's rows of the machine's table; `live` are the states a call is up in."""
    requests = (HoldRequested, MuteRequested, HangupRequested)
    return {
        **{(state, HoldRequested): hold for state in live},
        **{(state, MuteRequested): mute for state in live},
        **{(state, HangupRequested): hangup_leg for state in live},
        **{(S.ENDED, kind): _ignore for kind in (*requests, CitizenUnreached)},
        (S.ARRIVED, CallbackPlaced): callback_placed,
        (S.DIALING_CITIZEN, CitizenAnswered): citizen_answered,
        (S.DIALING_CITIZEN, CitizenUnreached): citizen_unreached,
        (S.ENDED, CitizenAnswered): late_citizen_answer,
    }


def callback_call(call_id: str, site: str, platform: str, order_id: str, number: str,
                  linked_order_id: str, blind_transfer: bool = False) -> Call:
    """A call we place to a citizen about their order (`callback`: the order exists, so
    opening the call opens no new one). It starts with `CallbackPlaced`."""
    return Call(id=call_id, site=site, platform=platform, citizen_number=number,
                citizen_leg=Leg(f"{call_id}-c", LegRole.CITIZEN), order_id=order_id,
                linked_order_id=linked_order_id, origin_site=site,
                blind_transfer=blind_transfer, callback=True)
