"""What the controller publishes on the events WebSocket follows the schemas the OpenAPI
document gives for it (components.schemas.Event)."""
from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from services.api.event_schemas import SCHEMAS
from services.api.openapi import build_document
from telephony.calls.model import KeyPressed, Notice
from telephony.desk import EventFeed

from .test_machine import connected, run, three_way

DOCUMENT = {"components": {"schemas": SCHEMAS}}


def problems(event: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator({**DOCUMENT, "$ref": "#/components/schemas/Event"})
    return [e.message for e in validator.iter_errors(event)]


def test_the_call_events_follow_their_schemas():
    published: list[dict[str, Any]] = []
    feed = EventFeed(published.append)
    call = three_way()
    feed.call_opened(call)
    feed.notice(call, Notice.SEAT_ANSWERED, {"seat": "1001"})
    feed.notice(call, Notice.KEY_REFUSED, {"key": "*8", "state": call.state.value, "why": "no"})
    ringing = run(connected(), KeyPressed("c1-s1", "*1"))[0]
    feed.notice(ringing, Notice.TRANSFER_STARTED, {"mode": "handover"})
    kinds = [e["type"] for e in published]
    assert {"call_state", "call_incoming", "key_refused"} <= set(kinds)
    for event in published:
        assert problems(event) == [], event
    assert published[0]["call"]["allowed_actions"] == ["hand_over", "keep", "cancel"]


def test_a_wrong_event_is_caught_by_the_schema():
    assert problems({"type": "call_state", "site": "12345"})
    assert problems({"type": "no_such_event"})


def test_hub_and_stream_messages_follow_their_schemas():
    assert problems({"type": "hello", "user": {"name": "ops", "role": "ops"}}) == []
    assert problems({"type": "events_lost", "count": 3}) == []


def test_the_document_names_the_event_schema_for_the_websocket():
    document = build_document([], extra_schemas=SCHEMAS)
    assert set(SCHEMAS) <= set(document["components"]["schemas"])


def test_with_nobody_listening_no_view_is_built_or_published():
    published: list[dict[str, Any]] = []
    listening = [False]
    feed = EventFeed(published.append, lambda: listening[0])
    call = three_way()
    feed.call_opened(call)
    feed.notice(call, Notice.SEAT_ANSWERED, {"seat": "1001"})
    assert published == []
    listening[0] = True
    feed.notice(call, Notice.SEAT_ANSWERED, {"seat": "1001"})
    assert [e["type"] for e in published] == ["call_incoming", "call_state"]
