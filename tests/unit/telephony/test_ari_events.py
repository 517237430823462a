from __future__ import annotations

import pytest

from telephony.ari.calls import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    MalformedEvent,
    StasisStart,
    parse_event,
)

CHANNEL = {"id": "12345-1.0", "name": "PJSIP/citizen-gw-00000001", "state": "Ring",
           "caller": {"number": "13800138000", "name": ""}, "dialplan": {"exten": "12345"}}


def test_stasis_start_is_typed_with_args_and_caller():
    event = parse_event({"type": "StasisStart", "channel": CHANNEL, "args": ["citizen", "12345"]})
    assert isinstance(event, StasisStart)
    assert event.args == ("citizen", "12345")
    assert event.channel.caller_number == "13800138000"
    assert event.channel.technology_endpoint == "citizen-gw"


def test_channel_destroyed_carries_the_cause():
    event = parse_event({"type": "ChannelDestroyed", "channel": CHANNEL, "cause": 17,
                         "cause_txt": "User busy"})
    assert isinstance(event, ChannelDestroyed) and event.cause == 17


def test_dtmf_digit_is_typed():
    event = parse_event({"type": "ChannelDtmfReceived", "channel": CHANNEL, "digit": "*"})
    assert isinstance(event, ChannelDtmfReceived) and event.digit == "*"


def test_unknown_event_types_parse_to_none():
    assert parse_event({"type": "PlaybackStarted"}) is None


@pytest.mark.parametrize("raw", [
    {"type": "StasisStart"},
    {"type": "StasisStart", "channel": {"name": "x"}},
    {"type": "StasisStart", "channel": CHANNEL, "args": "citizen"},
    {"type": "ChannelDtmfReceived", "channel": CHANNEL, "digit": "12"},
    {"type": "ChannelDestroyed", "channel": CHANNEL, "cause": "busy"},
    {"type": "StasisEnd", "channel": []},
])
def test_malformed_events_raise_a_clear_error(raw):
    with pytest.raises(MalformedEvent):
        parse_event(raw)
