"""`allowed_actions`: what the desk may enable is what the call's machine would accept."""
from __future__ import annotations

import pytest

from services.api.desk import ACTION_KEYS
from telephony.calls import machine
from telephony.calls.model import (
    CitizenEntered,
    KeyPressed,
    Notify,
    SeatOffered,
    SuggestionChanged,
)
from telephony.desk import allowed_actions, call_view

from .test_machine import connected, new_call, run, three_way


def accepted(call, action: str) -> bool:
    if call.agent_leg is None:
        return False
    step = machine.step(call, KeyPressed(call.agent_leg.id, ACTION_KEYS[action]))
    return bool(step.commands) and not any(
        isinstance(c, Notify) and c.kind == "key_refused" for c in step.commands)


@pytest.mark.parametrize(("build", "expected"), [
    (lambda: connected(), ["transfer", "three_way"]),
    (lambda: connected(suggested_line="119"), ["transfer", "three_way", "suggested_line"]),
    (lambda: run(connected(), KeyPressed("c1-s1", "*1"))[0], ["cancel"]),
    (lambda: run(connected(), KeyPressed("c1-s1", "*2"))[0], ["cancel"]),
    (three_way, ["hand_over", "keep", "cancel"]),
    (lambda: run(new_call(), CitizenEntered(), SeatOffered("1001"))[0], []),
    (lambda: new_call(), []),
])
def test_each_state_allows_exactly_the_keys_its_machine_accepts(build, expected):
    call = build()
    assert allowed_actions(call) == expected
    for action in ACTION_KEYS:    # and the machine agrees, key by key
        assert accepted(call, action) == (action in expected), action


def test_star8_follows_the_line_the_call_holds_not_a_guess():
    call = connected()
    assert "suggested_line" not in allowed_actions(call)
    call = machine.step(call, SuggestionChanged(line="120", emergency=True)).call
    assert "suggested_line" in allowed_actions(call)
    call = machine.step(call, SuggestionChanged(line=None, emergency=False)).call
    assert "suggested_line" not in allowed_actions(call)


def test_the_call_view_carries_the_allowed_actions():
    assert call_view(three_way())["allowed_actions"] == ["hand_over", "keep", "cancel"]
    assert call_view(new_call())["allowed_actions"] == []
