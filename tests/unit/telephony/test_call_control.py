"""Hold, mute, a leg hung up and callbacks as transitions of the call's own machine, and
the desk's `allowed_controls` that follow them."""
from __future__ import annotations

import pytest

from telephony.ari.calls import Dialer
from telephony.calls import machine
from telephony.calls.control import callback_call
from telephony.calls.model import (
    CallbackPlaced,
    CallState,
    CitizenAnswered,
    CitizenUnreached,
    HangupLeg,
    HangupRequested,
    HoldLeg,
    HoldRequested,
    KeyPressed,
    LegHungUp,
    LegRole,
    MuteLeg,
    MuteRequested,
    ReleaseSeat,
    RingCitizen,
    RingSeat,
    SeatAnswered,
    SeatFailed,
    StartRingback,
    UnholdLeg,
    UnmuteLeg,
    WaitForSeat,
)
from telephony.calls.ports import CitizenAt
from telephony.desk import allowed_actions, allowed_controls
from telephony.sip_rules import UnsafeDialString, check_endpoint

from .test_machine import PO, WO, actions, connected, new_call, notices, run, three_way


def test_given_connected_when_held_then_music_on_the_citizen_leg_and_unhold_stops_it():
    call, [held, unheld] = run(connected(), HoldRequested(True), HoldRequested(False))
    assert actions(held) == (HoldLeg("chan-citizen"),)
    assert actions(unheld) == (UnholdLeg("chan-citizen"),)
    assert notices(held)[0][0] == "held" and not call.on_hold


def test_given_on_hold_when_held_again_then_refused_and_nothing_changes():
    held = run(connected(), HoldRequested(True))[0]
    again = machine.step(held, HoldRequested(True))
    assert again.call == held and actions(again.commands) == ()
    assert notices(again.commands)[0][0] == "control_refused"


def test_given_no_agent_yet_when_hold_then_refused():
    waiting = run(new_call(), *connected_events()[:1])[0]
    step = machine.step(waiting, HoldRequested(True))
    assert actions(step.commands) == () and not step.call.on_hold


def connected_events():
    from .test_machine import CONNECTED
    return CONNECTED


def test_given_on_hold_when_agent_presses_star1_then_the_citizen_comes_off_hold_first():
    held = run(connected(), HoldRequested(True))[0]
    step = machine.step(held, KeyPressed("c1-s1", "*1"))
    assert step.call.state is CallState.TRANSFER_RINGING and not step.call.on_hold
    assert step.commands[0] == UnholdLeg("chan-citizen")


def test_given_muted_then_the_agent_leg_is_muted_in_and_unmute_reverses_it():
    call, [muted, unmuted] = run(connected(), MuteRequested(True), MuteRequested(False))
    assert actions(muted) == (MuteLeg("c1-s1"),) and actions(unmuted) == (UnmuteLeg("c1-s1"),)
    assert not call.muted
    assert actions(machine.step(call, MuteRequested(False)).commands) == ()


@pytest.mark.parametrize(("role", "leg"), [(LegRole.AGENT, "c1-s1"), (LegRole.CITIZEN, "chan-citizen")])
def test_hangup_of_a_leg_asks_the_switch_and_the_leg_event_then_moves_the_call(role, leg):
    call = connected()
    step = machine.step(call, HangupRequested(role))
    assert actions(step.commands) == (HangupLeg(leg),) and step.call == call
    ended = machine.step(step.call, LegHungUp(leg))   # what Asterisk then reports
    assert ended.call.state is CallState.ENDED


def test_hangup_of_the_invited_seat_in_a_three_way_returns_to_two_way():
    call = three_way()
    target = call.target_leg.id
    step = machine.step(call, HangupRequested(LegRole.TARGET))
    assert actions(step.commands) == (HangupLeg(target),)
    after = machine.step(step.call, LegHungUp(target))
    assert after.call.state is CallState.CONNECTED and after.call.agent_leg is not None


def test_hangup_of_a_leg_the_call_has_not_is_refused():
    step = machine.step(connected(), HangupRequested(LegRole.TARGET))
    assert actions(step.commands) == ()
    assert notices(step.commands)[0][0] == "control_refused"


def test_allowed_controls_follow_the_machine():
    assert allowed_controls(connected()) == ["hold", "mute", "hangup_agent", "hangup_citizen"]
    held = run(connected(), HoldRequested(True), MuteRequested(True))[0]
    assert allowed_controls(held) == ["unhold", "unmute", "hangup_agent", "hangup_citizen"]
    assert allowed_controls(three_way()) == ["mute", "hangup_agent", "hangup_target",
                                             "hangup_citizen"]
    assert allowed_controls(new_call()) == ["hangup_citizen"]


# ---- callbacks ------------------------------------------------------------------------
def callback(seat: str | None = "1001"):
    call = callback_call("c1", "12345", "12345", WO, "13800138000", PO)
    return run(call, CallbackPlaced(seat))


def test_a_callback_rings_the_citizen_showing_the_platform_number():
    call, [cmds] = callback()
    ring = actions(cmds)[0]
    assert isinstance(ring, RingCitizen)
    assert (ring.citizen_number, ring.caller_number) == ("13800138000", "12345")
    assert ("X-Work-Order", WO) in ring.headers
    assert call.state is CallState.DIALING_CITIZEN and call.reserved_seat == "1001"


def test_when_the_citizen_answers_the_kept_seat_rings_then_bridges_as_any_call():
    call, [answered, bridged] = run(callback()[0], CitizenAnswered("c1-c"), SeatAnswered("c1-s1"))
    assert StartRingback("c1-c") in answered
    ring = next(c for c in answered if isinstance(c, RingSeat))
    assert ring.seat == "1001" and ring.caller_number == "13800138000"
    assert call.state is CallState.CONNECTED and call.agent_leg.seat == "1001"
    assert "transfer" in allowed_actions(call)
    # a key works on it as on any call
    assert machine.step(call, KeyPressed("c1-s1", "*1")).call.state is CallState.TRANSFER_RINGING


def test_a_callback_without_a_seat_waits_for_the_next_free_one():
    call, [cmds] = run(callback(None)[0], CitizenAnswered("c1-c"))
    assert call.state is CallState.WAITING and WaitForSeat() in cmds


def test_a_callback_whose_seat_does_not_answer_goes_to_the_waiting_line():
    call, [_, failed] = run(callback()[0], CitizenAnswered("c1-c"), SeatFailed("c1-s1", "busy"))
    assert call.state is CallState.WAITING and WaitForSeat() in failed


def test_an_unreached_citizen_ends_the_callback_and_frees_the_kept_seat():
    call, [cmds] = run(callback()[0], CitizenUnreached("c1-c", "busy"))
    assert call.state is CallState.ENDED and ReleaseSeat("1001") in cmds
    assert ("callback_failed", {"reason": "busy"}) in notices(cmds)


def test_the_citizen_dialled_back_goes_through_the_gateway_as_digits_only():
    dialer = Dialer(handover={})
    assert dialer.dial_string(CitizenAt("13800138000")) == "PJSIP/13800138000@citizen-gw"
    assert dialer.dial_string(CitizenAt("+8613800138000")) == "PJSIP/008613800138000@citizen-gw"
    assert check_endpoint("PJSIP/13800138000@citizen-gw")
    for bad in ("1380&PJSIP/evil", "12", "138 0013", "１３８００１３８０００"):
        with pytest.raises(UnsafeDialString):
            dialer.dial_string(CitizenAt(bad))
