"""The call state machine, without Asterisk."""
from __future__ import annotations

import pytest

from telephony.calls import machine
from telephony.calls.model import (
    Answer,
    BridgeLegs,
    Call,
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
    StopRingback,
    WaitForSeat,
)

CITIZEN = Leg("chan-citizen", LegRole.CITIZEN)


def new_call() -> Call:
    return Call(id="c1", site="12345", citizen_number="13800138000", citizen_leg=CITIZEN,
                order_id="WO-20261122-000000000001")


def run(call: Call, *events):
    commands = []
    for event in events:
        result = machine.step(call, event)
        call = result.call
        commands.append(result.commands)
    return call, commands


def test_given_new_citizen_when_entered_then_answered_on_hold_and_waiting():
    call, [cmds] = run(new_call(), CitizenEntered())
    assert call.state is CallState.WAITING
    assert cmds == (Answer("chan-citizen"), StartRingback("chan-citizen"), WaitForSeat())


def test_given_waiting_when_seat_offered_then_seat_rung_with_citizen_number_and_order_headers():
    call, [_, cmds] = run(new_call(), CitizenEntered(), SeatOffered("1001"))
    assert call.state is CallState.RINGING_SEAT
    (ring,) = cmds
    assert isinstance(ring, RingSeat)
    assert ring.seat == "1001" and ring.caller_number == "13800138000"
    headers = dict(ring.headers)
    assert headers["X-Work-Order"] == "WO-20261122-000000000001"
    assert headers["X-Origin-Site"] == "12345"
    assert headers["Call-Info"] == (
        "<urn:hotline-link:incidentid:WO-20261122-000000000001>;purpose=emergency-IncidentId")


def test_given_ringing_when_seat_answers_then_citizen_and_seat_bridged():
    call, cmds = run(new_call(), CitizenEntered(), SeatOffered("1001"), SeatAnswered("c1-s1"))
    assert call.state is CallState.CONNECTED
    assert call.agent_leg == Leg("c1-s1", LegRole.AGENT, "1001")
    assert cmds[-1] == (StopRingback("chan-citizen"), BridgeLegs("c1-b", ("chan-citizen", "c1-s1")))


def test_given_ringing_when_seat_busy_then_citizen_keeps_waiting_and_seat_rests():
    call, cmds = run(new_call(), CitizenEntered(), SeatOffered("1001"), SeatFailed("c1-s1", "busy"))
    assert call.state is CallState.WAITING
    assert call.ringing_leg is None
    assert cmds[-1] == (ReleaseSeat("1001", failed=True), WaitForSeat())


def test_given_second_seat_offer_then_new_leg_id_is_used():
    call, _cmds = run(new_call(), CitizenEntered(), SeatOffered("1001"),
                     SeatFailed("c1-s1", "no_answer"), SeatOffered("1002"))
    assert call.ringing_leg == Leg("c1-s2", LegRole.AGENT, "1002")


def test_given_connected_when_citizen_hangs_up_then_seat_leg_bridge_and_seat_released():
    call, cmds = run(new_call(), CitizenEntered(), SeatOffered("1001"), SeatAnswered("c1-s1"),
                     LegHungUp("chan-citizen"))
    assert call.state is CallState.ENDED
    assert cmds[-1] == (HangupLeg("c1-s1"), ReleaseSeat("1001"), DestroyBridge("c1-b"), Finished())


def test_given_waiting_when_citizen_hangs_up_then_leaves_the_waiting_line():
    _call, cmds = run(new_call(), CitizenEntered(), LegHungUp("chan-citizen"))
    assert cmds[-1] == (LeaveWaitingLine(), Finished())


def test_given_ended_when_late_seat_answers_then_that_leg_is_hung_up():
    _call, cmds = run(new_call(), CitizenEntered(), SeatOffered("1001"), LegHungUp("chan-citizen"),
                     SeatAnswered("c1-s1"))
    assert cmds[-1] == (HangupLeg("c1-s1"),)


def test_given_connected_when_another_seat_offered_then_it_goes_straight_back():
    call, cmds = run(new_call(), CitizenEntered(), SeatOffered("1001"), SeatAnswered("c1-s1"),
                     SeatOffered("1002"))
    assert call.state is CallState.CONNECTED
    assert cmds[-1] == (ReleaseSeat("1002"),)


@pytest.mark.parametrize("event", [SeatAnswered("c1-s1"), SeatFailed("c1-s1", "busy")])
def test_given_waiting_when_unexpected_leg_event_then_illegal(event):
    call, _ = run(new_call(), CitizenEntered())
    with pytest.raises(machine.IllegalTransition):
        machine.step(call, event)


def test_given_ringing_when_answer_from_a_stale_leg_then_illegal():
    call, _ = run(new_call(), CitizenEntered(), SeatOffered("1001"))
    with pytest.raises(machine.IllegalTransition):
        machine.step(call, SeatAnswered("c1-s9"))
