"""Feature keys from single digits: "*" then a digit from the same leg within the window.
The pending "*" is part of the call, so it is stored with it and survives a takeover."""
from __future__ import annotations

from telephony.calls import machine
from telephony.calls.model import (
    Call,
    CallState,
    CitizenKey,
    DigitPressed,
    KeyPressed,
    Leg,
    LegRole,
    PendingKey,
    RingTarget,
    TransferMode,
)
from telephony.calls.store import call_from_json, call_to_json

AGENT = Leg("c1-s1", LegRole.AGENT, "1001")


def connected(**kw) -> Call:
    return Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
                citizen_leg=Leg("cit", LegRole.CITIZEN), order_id="WO-1", linked_order_id="PO-1",
                state=CallState.CONNECTED, agent_leg=AGENT, bridge_id="c1-b", **kw)


def press(call: Call, *digits: tuple[str, str, float]):
    commands = []
    for leg_id, digit, at in digits:
        step = machine.step(call, DigitPressed(leg_id, digit, at))
        call = step.call
        commands.extend(step.commands)
    return call, commands


def test_star_alone_is_pending_and_makes_no_key():
    assert machine.assemble_key(None, DigitPressed("a", "*", 5.0)) == (PendingKey("a", 5.0), None)


def test_star_then_a_digit_within_the_window_makes_the_key():
    pending = PendingKey("a", 5.0)
    assert machine.assemble_key(pending, DigitPressed("a", "1", 5.0 + machine.KEY_WINDOW_S)) == (
        None, "*1")


def test_a_digit_after_the_window_makes_nothing_and_clears_the_star():
    pending = PendingKey("a", 5.0)
    assert machine.assemble_key(pending, DigitPressed("a", "1", 5.1 + machine.KEY_WINDOW_S)) == (
        None, None)


def test_a_digit_from_another_leg_does_not_complete_the_star():
    assert machine.assemble_key(PendingKey("a", 5.0), DigitPressed("b", "1", 5.5)) == (None, None)


def test_a_second_star_restarts_the_window():
    pending, key = machine.assemble_key(PendingKey("a", 1.0), DigitPressed("a", "*", 4.5))
    assert key is None and pending == PendingKey("a", 4.5)


def test_hash_or_a_letter_after_star_is_no_key():
    for digit in ("#", "A"):
        assert machine.assemble_key(PendingKey("a", 1.0), DigitPressed("a", digit, 1.1)) == (
            None, None)


def test_given_connected_when_agent_presses_star_then_1_then_transfer_starts():
    call, commands = press(connected(), ("c1-s1", "*", 10.0), ("c1-s1", "1", 11.0))
    assert call.state is CallState.TRANSFER_RINGING
    assert [c.mode for c in commands if isinstance(c, RingTarget)] == [TransferMode.HANDOVER]
    assert call.pending_key is None


def test_the_pending_star_is_part_of_the_call_and_survives_the_store():
    call, commands = press(connected(), ("c1-s1", "*", 10.0))
    assert call.pending_key == PendingKey("c1-s1", 10.0) and commands == []
    restored = call_from_json(call_to_json(call))
    assert restored == call
    after, commands = press(restored, ("c1-s1", "2", 11.0))   # a takeover between the two
    assert after.state is CallState.THREE_WAY_RINGING


def test_digits_of_a_leg_that_is_not_the_agent_make_no_key():
    call, commands = press(connected(), ("c1-t2", "*", 10.0), ("c1-t2", "1", 10.5))
    assert call.state is CallState.CONNECTED and commands == [] and call.pending_key is None


def test_the_citizens_digits_are_citizen_keys_not_feature_keys():
    call = connected()
    direct = machine.step(call, CitizenKey("1"))
    via_digit = machine.step(call, DigitPressed("cit", "1", 3.0))
    assert via_digit == direct


def test_a_key_pressed_on_the_desk_is_the_same_key():
    via_digits, _ = press(connected(), ("c1-s1", "*", 1.0), ("c1-s1", "8", 1.5))
    via_desk = machine.step(connected(), KeyPressed("c1-s1", "*8"))
    assert via_digits == via_desk.call
