"""The call state machine: (state, event) -> Step(next call, commands).

Pure functions in one table. An event a state does not expect raises
`IllegalTransition`; a feature key a state does not expect is refused with a
tone for the agent and a notice, and changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telephony.calls import control, recovery, surge
from telephony.calls import transfers as tr
from telephony.calls.model import (
    RINGING_TARGET,
    AddToBridge,
    AgentLost,
    Answer,
    BridgeLegs,
    Call,
    CallEvent,
    CallState,
    CitizenEntered,
    CitizenKey,
    Command,
    DestroyBridge,
    DigitPressed,
    Finished,
    HangupLeg,
    IndicateRinging,
    KeyPressed,
    LeaveWaitingLine,
    Leg,
    LegHungUp,
    LegRole,
    NoSeat,
    Notice,
    Notify,
    PendingKey,
    PlaybackDone,
    PositionAnnounce,
    Recovered,
    ReleaseSeat,
    RingSeat,
    SeatAnswered,
    SeatFailed,
    SeatOffered,
    StartRingback,
    Step,
    StopPlayback,
    StopRingback,
    SuggestionChanged,
    SurgeOffered,
    TargetAnswered,
    TargetFailed,
    TellAgent,
    TransferMode,
    WaitForSeat,
    case_keeper,
    order_headers,
    other_platform,
    replace,
)

S = CallState
N = Notice
KEY_WINDOW_S = 3.0   # "*" then a digit within this long makes a feature key
HANGUP_REASONS = {"busy": "busy", "no_answer": "no_answer", "rejected": "rejected"}


class IllegalTransition(Exception):
    def __init__(self, call: Call, event: CallEvent):
        super().__init__(f"call {call.id}: {type(event).__name__} not allowed in {call.state.value}")
        self.call = call
        self.event = event


# ---- arrival and local seats ------------------------------------------------------
def _arrive(call: Call, event: CitizenEntered) -> Step:
    notice = Notify(N.CALL_ARRIVED, {"via_trunk": call.via_trunk})
    if call.via_trunk:
        # answer only when a seat does: the origin must see "no answer" as such
        ringing = () if event.ringing else (IndicateRinging(call.citizen_leg.id),)
        return Step(replace(call, state=S.WAITING),
                    (*ringing, WaitForSeat(or_fail="busy"), notice))
    answer = () if event.answered else (Answer(call.citizen_leg.id),)
    music = () if event.music else (StartRingback(call.citizen_leg.id),)
    return Step(replace(call, state=S.WAITING), (*answer, *music, WaitForSeat(), notice))


def _ring_seat(call: Call, event: SeatOffered) -> Step:
    leg = Leg(id=call.next_leg_id("s"), role=LegRole.AGENT, seat=event.seat)
    return Step(replace(call, state=S.RINGING_SEAT, ringing_leg=leg, attempts=call.attempts + 1),
                (RingSeat(event.seat, leg.id, call.citizen_number, order_headers(call)),))


def _seat_answered(call: Call, event: SeatAnswered) -> Step:
    leg = call.ringing_leg
    if leg is None or leg.id != event.leg_id:
        raise IllegalTransition(call, event)
    commands: list[Command] = []
    if call.via_trunk:
        commands.append(Answer(call.citizen_leg.id))
    else:
        commands.append(StopRingback(call.citizen_leg.id))
    if call.playing:   # a menu, an answer or the caller's position is still playing
        commands.append(StopPlayback(call.playing))
    bridge_id = call.bridge_name
    if call.bridge_id:   # back from a failed blind transfer: the bridge is still there
        commands.append(AddToBridge(bridge_id, leg.id))
    else:
        commands.append(BridgeLegs(bridge_id, (call.citizen_leg.id, leg.id)))
    commands.append(Notify(N.SEAT_ANSWERED, {"seat": leg.seat}))
    # a hand-over is this platform's case once one of its seats answers
    taken_by = call.platform if call.via_trunk else call.case_taken_by
    return Step(replace(call, state=S.CONNECTED, agent_leg=leg, ringing_leg=None,
                        bridge_id=bridge_id, reserved_seat=None, case_taken_by=taken_by,
                        playing=None),
                tuple(commands))


def _seat_failed(call: Call, event: SeatFailed) -> Step:
    leg = call.ringing_leg
    if leg is None or leg.id != event.leg_id:
        return Step(call)   # a stale leg
    # the citizen keeps waiting; another seat (or this one, later) is tried;
    # a hand-over that no seat can take goes back to its origin at once
    wait = WaitForSeat(or_fail=event.reason) if call.via_trunk else WaitForSeat()
    return Step(replace(call, state=S.WAITING, ringing_leg=None),
                (ReleaseSeat(leg.seat or "", failed=True), wait,
                 Notify(N.SEAT_FAILED, {"seat": leg.seat, "reason": event.reason})))


def _no_seat(call: Call, event: NoSeat) -> Step:
    """A hand-over nobody here can take: refuse it, so the origin's agent gets the citizen back."""
    return Step(replace(call, state=S.ENDED),
                (LeaveWaitingLine(),
                 HangupLeg(call.citizen_leg.id, HANGUP_REASONS.get(event.reason, "congestion")),
                 Notify(N.HANDOVER_REFUSED, {"reason": event.reason}), Finished()))


# ---- feature keys ---------------------------------------------------------------------
def _key_in_two_way(call: Call, event: KeyPressed) -> Step:
    if event.key == "*1":
        return tr.start_transfer(call, TransferMode.HANDOVER)
    if event.key == "*2":
        return tr.start_transfer(call, TransferMode.THREE_WAY)
    if event.key == "*8":
        if call.suggested_line is None:
            return _refuse(call, event, "no suggested line for *8")
        return tr.start_transfer(call, TransferMode.LINE, call.suggested_line)
    return _refuse(call, event)


def _key_while_ringing(call: Call, event: KeyPressed) -> Step:
    if event.key != "*0" or call.target_leg is None:
        return _refuse(call, event, "a transfer is already running" if event.key in
                       ("*1", "*2", "*8") else None)
    return Step(replace(call, state=S.CONNECTED, target_leg=None, transfer_mode=None),
                (HangupLeg(call.target_leg.id), Notify(N.TRANSFER_CANCELLED, {"key": "*0"})))


def _key_in_three_way(call: Call, event: KeyPressed) -> Step:
    target, agent = call.target_leg, call.agent_leg
    assert target is not None and agent is not None
    other = other_platform(call.platform)
    if event.key == "*3":   # hand over: the pressing agent leaves, the other platform takes it
        return Step(replace(call, state=S.HANDED_OVER, agent_leg=None, case_taken_by=other),
                    (HangupLeg(agent.id), ReleaseSeat(agent.seat or ""),
                     Notify(N.NEGOTIATED, {"key": "*3", "seat": agent.seat, "taken_by": other})))
    if event.key == "*4":   # keep: the invited seat leaves, the case stays here
        return Step(replace(call, state=S.CONNECTED, target_leg=None, transfer_mode=None,
                            case_taken_by=call.platform),
                    (HangupLeg(target.id),
                     Notify(N.NEGOTIATED, {"key": "*4", "seat": agent.seat,
                                           "taken_by": call.platform})))
    if event.key == "*0":
        return Step(replace(call, state=S.CONNECTED, target_leg=None, transfer_mode=None),
                    (HangupLeg(target.id), Notify(N.THREE_WAY_CANCELLED, {"key": "*0"})))
    return _refuse(call, event)


def _refuse(call: Call, event: KeyPressed, why: str | None = None) -> Step:
    return Step(call, (TellAgent(event.leg_id),
                       Notify(N.KEY_REFUSED, {"key": event.key, "state": call.state.value,
                                              "why": why or f"{event.key} not valid now"})))


# ---- the target's answer -------------------------------------------------------------
def _target_answered(call: Call, event: TargetAnswered) -> Step:
    target = call.target_leg
    if target is None or target.id != event.leg_id or call.bridge_id is None:
        return Step(call, (HangupLeg(event.leg_id),))   # a leg we no longer want
    mode = call.transfer_mode
    commands: list[Command] = [AddToBridge(call.bridge_id, target.id)]
    if call.state is S.THREE_WAY_RINGING:
        return Step(replace(call, state=S.THREE_WAY),
                    (*commands, Notify(N.THREE_WAY_JOINED, {})))
    taken_by = other_platform(call.platform) if mode is TransferMode.HANDOVER else call.case_taken_by
    if call.state is S.BLIND_RINGING:
        commands.append(StopRingback(call.citizen_leg.id))
        if call.reserved_seat:
            commands.append(ReleaseSeat(call.reserved_seat))
    elif call.agent_leg:
        # warm: the agent stayed until now, and leaves before the target joins. Three legs
        # in a bridge make Asterisk move it to its multi-party mixer (a thread that mixes
        # every 20 ms) and back to two-party once the agent is gone; each move, and the
        # bridge's destruction after one, held the site's ARI requests behind it
        commands = [HangupLeg(call.agent_leg.id), *commands,
                    ReleaseSeat(call.agent_leg.seat or "")]
    commands.append(Notify(N.TRANSFER_COMPLETED, {"mode": mode.value if mode else None,
                                                  "taken_by": taken_by}))
    return Step(replace(call, state=S.HANDED_OVER, agent_leg=None, reserved_seat=None,
                        case_taken_by=taken_by), tuple(commands))


def _target_failed(call: Call, event: TargetFailed) -> Step:
    target = call.target_leg
    if target is None or target.id != event.leg_id:
        return Step(call)   # a cancelled or stale leg
    notice = Notify(N.TRANSFER_FAILED, {"reason": event.reason,
                                        "mode": call.transfer_mode.value if call.transfer_mode else None})
    base = replace(call, target_leg=None, transfer_mode=None)
    if call.state is S.BLIND_RINGING:
        if call.reserved_seat:   # back to the same agent
            offered = _ring_seat(replace(base, state=S.WAITING), SeatOffered(call.reserved_seat))
            return Step(replace(offered.call, reserved_seat=None), (*offered.commands, notice))
        return Step(replace(base, state=S.WAITING), (WaitForSeat(), notice))
    agent = call.agent_leg
    tell = (TellAgent(agent.id),) if agent else ()
    return Step(replace(base, state=S.CONNECTED), (*tell, notice))


def _cancel_blind(call: Call, event: tr.TransferCancelRequested) -> Step:
    """A blind transfer called off through the API (no agent is left to press *0): the
    target is dropped and the citizen rung back to the agent's seat, as when it fails."""
    target, transfer = call.target_leg, call.transfer
    if target is None or transfer is None or transfer.id != event.transfer_id:
        return tr.refuse(call, event.transfer_id, "not this call's running transfer")
    back = _target_failed(call, TargetFailed(target.id, "cancelled"))
    kept = tuple(c for c in back.commands if not isinstance(c, Notify))
    return Step(back.call, (HangupLeg(target.id), *kept,
                            Notify(N.TRANSFER_CANCELLED, {"by": "api"})))


# ---- hang-ups ----------------------------------------------------------------------------
def _hung_up(call: Call, event: LegHungUp) -> Step:
    leg = next((leg for leg in call.live_legs if leg.id == event.leg_id), None)
    if leg is None:
        return Step(call)   # a leg that already left
    if leg.role is LegRole.AGENT and call.state in (S.TRANSFER_RINGING, S.THREE_WAY_RINGING):
        # the agent left before the target answered: the citizen waits on the target
        return Step(replace(call, state=S.BLIND_RINGING, agent_leg=None),
                    (ReleaseSeat(leg.seat or ""), StartRingback(call.citizen_leg.id),
                     Notify(N.AGENT_LEFT, {"seat": leg.seat})))
    if leg.role is LegRole.AGENT and call.state is S.THREE_WAY:
        # no agreement was pressed: first contact keeps the case (首接负责制)
        return Step(replace(call, state=S.HANDED_OVER, agent_leg=None),
                    (ReleaseSeat(leg.seat or ""), Notify(N.AGENT_LEFT, {"seat": leg.seat})))
    if leg.role is LegRole.TARGET and call.state is S.THREE_WAY:
        return Step(replace(call, state=S.CONNECTED, target_leg=None, transfer_mode=None),
                    (Notify(N.TARGET_LEFT, {}),))
    return _end(call, event.leg_id)


def _agent_lost(call: Call, event: AgentLost) -> Step:
    """The seat's line died under a two-way call: the citizen is not hung up on but goes
    back to the head of the line, on hold, and the seat rests as a failed one. In other
    states a lost agent is handled as one who hung up (the invited seat, or the target
    being rung, stays with the citizen)."""
    agent = call.agent_leg
    if call.state is not S.CONNECTED or agent is None or agent.id != event.leg_id:
        return _hung_up(call, LegHungUp(event.leg_id))
    return Step(replace(call, state=S.WAITING, agent_leg=None),
                (ReleaseSeat(agent.seat or "", failed=True), StartRingback(call.citizen_leg.id),
                 WaitForSeat(first=True),
                 Notify(N.AGENT_LOST, {"seat": agent.seat, "reason": event.reason})))


def _end(call: Call, gone_leg: str) -> Step:
    """Whoever leaves ends the call; every other leg and resource goes with it.

    The bridge goes first, with the legs still in it, and Asterisk lets them all go at
    once. Hanging up a leg first, then destroying the bridge, held the site's other ARI
    requests (its socket answers one at a time) more often: in two alternating pairs of
    transfer-bench runs at 100 calls, 44 and 65 of 2000 originates took over 100 ms that
    way, none this way (bench/results/transfer-before-after-bd75b2c.md)."""
    commands: list[Command] = [DestroyBridge(call.bridge_id)] if call.bridge_id else []
    if call.state is S.WAITING:
        commands.append(LeaveWaitingLine())
    for leg in call.live_legs:
        if leg.id != gone_leg:
            commands.append(HangupLeg(leg.id))
        if leg.seat:
            commands.append(ReleaseSeat(leg.seat))
    if call.reserved_seat:
        commands.append(ReleaseSeat(call.reserved_seat))
    gone = next((leg for leg in call.live_legs if leg.id == gone_leg), None)
    commands.append(Notify(N.CALL_ENDED, {"state": call.state.value,
                                          "taken_by": case_keeper(call),
                                          # who left first: the call log's "who hung up"
                                          "by": gone.role.value if gone else "unknown"}))
    commands.append(Finished())
    return Step(replace(call, state=S.ENDED, ringing_leg=None, agent_leg=None, target_leg=None,
                        reserved_seat=None), tuple(commands))


def _suggestion_changed(call: Call, event: SuggestionChanged) -> Step:
    return Step(replace(call, suggested_line=event.line, emergency=event.emergency))


def _stale_offer(call: Call, event: SeatOffered) -> Step:
    """A seat offered after the call moved on goes straight back."""
    return Step(call, (ReleaseSeat(event.seat),))


def _late_answer(call: Call, event: SeatAnswered | TargetAnswered) -> Step:
    """A leg that answers after it stopped being wanted is hung up, not left dangling."""
    return Step(call, (HangupLeg(event.leg_id),))


def _ignore(call: Call, _: CallEvent) -> Step:
    return Step(call)


# each handler takes the one event type its key names; the table pairs them
Handler = Callable[[Call, Any], Step]
_RINGING = RINGING_TARGET
_LIVE = (S.ARRIVED, S.WAITING, S.RINGING_SEAT, S.CONNECTED, *_RINGING, S.THREE_WAY, S.HANDED_OVER,
         S.DIALING_CITIZEN)

TRANSITIONS: dict[tuple[CallState, type], Handler] = {
    (S.ARRIVED, CitizenEntered): _arrive,
    (S.WAITING, SeatOffered): _ring_seat,
    (S.WAITING, NoSeat): _no_seat,
    (S.RINGING_SEAT, SeatAnswered): _seat_answered,
    (S.RINGING_SEAT, SeatFailed): _seat_failed,
    (S.CONNECTED, KeyPressed): _key_in_two_way,
    (S.TRANSFER_RINGING, KeyPressed): _key_while_ringing,
    (S.THREE_WAY_RINGING, KeyPressed): _key_while_ringing,
    (S.THREE_WAY, KeyPressed): _key_in_three_way,
    **{(state, TargetAnswered): _target_answered for state in _RINGING},
    **{(state, TargetFailed): _target_failed for state in _RINGING},
    **{(state, LegHungUp): _hung_up for state in _LIVE},
    **{(state, AgentLost): _agent_lost for state in _LIVE},
    **{(state, SeatOffered): _stale_offer
       for state in (S.RINGING_SEAT, S.CONNECTED, *_RINGING, S.THREE_WAY, S.HANDED_OVER, S.ENDED)},
    **{(state, SeatFailed): _seat_failed
       for state in (S.WAITING, S.CONNECTED, *_RINGING, S.THREE_WAY, S.HANDED_OVER)},
    **{(state, TargetFailed): _target_failed for state in (S.CONNECTED, S.THREE_WAY,
                                                            S.HANDED_OVER)},
    **{(state, TargetAnswered): _late_answer for state in (S.CONNECTED, S.HANDED_OVER)},
    (S.WAITING, SurgeOffered): surge.surge_offered,
    (S.WAITING, PositionAnnounce): surge.announce_position,
    **{(state, SuggestionChanged): _suggestion_changed for state in _LIVE},
    (S.ENDED, SuggestionChanged): _ignore,
    **{(state, PositionAnnounce): _ignore for state in (*_LIVE, S.ENDED)
       if state is not S.WAITING},
    (S.WAITING, CitizenKey): surge.citizen_key,
    **{(state, SurgeOffered): _ignore for state in _LIVE if state is not S.WAITING},
    **{(state, CitizenKey): _ignore for state in _LIVE if state is not S.WAITING},
    **{(state, PlaybackDone): surge.playback_done for state in _LIVE},
    **{(S.ENDED, kind): _ignore for kind in (SurgeOffered, CitizenKey, PlaybackDone, LegHungUp,
                                             AgentLost, SeatFailed, TargetFailed, NoSeat,
                                             KeyPressed)},
    **{(state, Recovered): recovery.recovered for state in _LIVE},
    (S.ENDED, SeatAnswered): _late_answer,
    (S.ENDED, TargetAnswered): _late_answer,
    **{(state, tr.TransferRequested): tr.refuse_request for state in (*_LIVE, S.ENDED)},
    (S.CONNECTED, tr.TransferRequested): tr.requested,
    **{(state, tr.TransferCompleteRequested): tr.refuse_complete for state in (*_LIVE, S.ENDED)},
    (S.TRANSFER_RINGING, tr.TransferCompleteRequested): tr.release_agent,
    **{(state, tr.TransferCancelRequested): tr.refuse_cancel for state in (*_LIVE, S.ENDED)},
    (S.BLIND_RINGING, tr.TransferCancelRequested): _cancel_blind,
    **control.transitions(_LIVE),   # hold, mute, a leg hung up, callbacks
}


def assemble_key(pending: PendingKey | None, event: DigitPressed
                 ) -> tuple[PendingKey | None, str | None]:
    """A feature key from single digits (RFC 2833 or SIP INFO alike): "*", then a digit
    from the same leg within KEY_WINDOW_S. Returns what stays pending, and the key."""
    if event.digit == "*":
        return PendingKey(event.leg_id, event.at), None
    if (pending is not None and pending.leg_id == event.leg_id and event.digit.isdigit()
            and event.at - pending.at <= KEY_WINDOW_S):
        return None, f"*{event.digit}"
    return None, None


def _digit(call: Call, event: DigitPressed) -> Step:
    """The citizen's digits answer the surge menu; the agent's make feature keys."""
    if event.leg_id == call.citizen_leg.id:
        return step(call, CitizenKey(event.digit))
    if call.agent_leg is None or event.leg_id != call.agent_leg.id:
        return Step(call)   # only the agent's keys are feature keys
    pending, key = assemble_key(call.pending_key, event)
    call = replace(call, pending_key=pending) if pending != call.pending_key else call
    return step(call, KeyPressed(event.leg_id, key)) if key else Step(call)


def step(call: Call, event: CallEvent) -> Step:
    if isinstance(event, DigitPressed):
        return _digit(call, event)
    if isinstance(event, KeyPressed) and (call.agent_leg is None
                                          or event.leg_id != call.agent_leg.id):
        return Step(call)   # only the agent's keys are feature keys
    handler = TRANSITIONS.get((call.state, type(event)))
    if handler is None:
        if isinstance(event, KeyPressed):
            return _refuse(call, event)
        raise IllegalTransition(call, event)
    return control.after_control(call, handler(call, event))
