"""The live events' payloads (`GET /api/v1/events`) as JSON Schemas: they go into the OpenAPI
document under `components.schemas` (an `Event` with one schema per `type`), and the tests
check what the producers publish against them."""
from __future__ import annotations

from typing import Any

from services.api.desk import ACTION_KEYS

_STR = {"type": "string"}
_OPT = {"type": ["string", "null"]}
_REF = "#/components/schemas/"

CALL = {
    "type": "object",
    "description": "A call as `GET /calls/{call_id}` shows it; `citizen_number` is masked "
                   "unless the receiver is a supervisor or the agent on the call.",
    "required": ["call_id", "site", "platform", "state", "citizen_number", "order_id", "seat"],
    "properties": {
        "call_id": _STR, "site": _STR, "platform": {"enum": ["12345", "110"]},
        "state": _STR, "citizen_number": _OPT, "order_id": _OPT, "linked_order_id": _OPT,
        "seat": _OPT, "origin_site": _OPT, "via_trunk": {"type": ["boolean", "null"]},
        "transfer_mode": _OPT, "suggested_line": _OPT,
        "emergency": {"type": ["boolean", "null"]}, "case_taken_by": _OPT,
        "transfer_id": {"type": ["string", "null"],
                        "description": "The running transfer or three-way, if any."},
        "allowed_actions": {
            "type": "array", "items": {"enum": list(ACTION_KEYS)},
            "description": "The call actions the server would accept now (computed by the "
                           "call's state machine, the code that refuses them)."},
    },
}


TRANSFER = {
    "type": "object",
    "description": "A transfer or three-way (`kind`), as `GET /transfers/{transfer_id}` "
                   "and `GET /three-ways/{three_way_id}` show it.",
    "required": ["transfer_id", "kind", "call_id", "site", "platform", "status", "target"],
    "properties": {
        "transfer_id": _STR, "kind": {"enum": ["transfer", "three_way"]}, "call_id": _STR,
        "site": _STR, "platform": {"enum": ["12345", "110"]}, "order_id": _OPT,
        "initiator_seat": _OPT,
        "status": {"enum": ["ringing", "answered", "completed", "kept", "cancelled",
                            "failed", "ended"]},
        "target": {"type": "object", "required": ["type"],
                   "properties": {"type": {"enum": ["platform", "line"]}, "line": _OPT}},
        "flow": {"enum": ["warm", "blind", None]}, "timeout_s": {"type": ["integer", "null"]},
        "via": {"enum": ["key", "api"]}, "agent_released": {"type": "boolean"},
        "reason": _OPT, "taken_by": _OPT, "created_at": _STR, "updated_at": _STR,
        "ended_at": _OPT,
    },
}


def _event(event_type: str, description: str, required: list[str],
           **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "description": description,
            "required": ["type", *required],
            "properties": {"type": {"const": event_type}, **properties}}


EVENTS: dict[str, dict[str, Any]] = {
    "EventHello": _event("hello", "First message: who the stream belongs to.", ["user"],
                         user={"type": "object"}),
    "EventCallIncoming": _event(
        "call_incoming", "A seat answered: the pop-up, sent to that seat's agent.",
        ["site", "platform", "seat", "call"], site=_STR, platform=_STR, seat=_OPT,
        call={"$ref": _REF + "Call"}),
    "EventCallState": _event(
        "call_state", "A call changed (`kind`: call_opened, seat_answered, "
        "transfer_started, key_refused, call_ended, …).", ["site", "platform", "call"],
        site=_STR, platform=_STR, call={"$ref": _REF + "Call"}, kind=_STR,
        detail={"type": "object"}),
    "EventKeyRefused": _event(
        "key_refused", "A key or call action the call's state refused.",
        ["site", "platform", "call_id", "key"], site=_STR, platform=_STR, seat=_OPT,
        call_id=_STR, key=_STR, state=_STR, why=_STR),
    "EventSuggestion": _event(
        "suggestion", "A new routing suggestion for a call (its summary changed).",
        ["site", "platform", "call_id", "suggestion"], site=_STR, platform=_STR,
        call_id=_STR, changed={"type": "boolean"}, suggestion={"type": "object"}),
    "EventSupervision": _event(
        "supervision", "A supervision notice (督办) for an overdue order.",
        ["platform", "order_id", "tier"], platform=_STR, order_id=_STR,
        tier={"type": "integer"}, level=_STR, due_at=_STR, issued_at=_STR,
        department=_OPT, region_code=_STR),
    **{name: _event(
        event_type, f"A transfer or three-way {what} (`transfer` as `GET /transfers/{{id}}` "
        "shows it; `seat`: the agent who started it).", ["site", "platform", "transfer"],
        site=_STR, platform=_STR, seat=_OPT, transfer={"$ref": _REF + "Transfer"})
       for name, event_type, what in (
           ("EventTransferCreated", "transfer_created", "started"),
           ("EventTransferUpdated", "transfer_updated", "changed (answered, agent released)"),
           ("EventTransferEnded", "transfer_ended", "ended"))},
    **{name: _event(kind, f"A supervisor's listen-in, whisper or barge {verb} (seen by "
                    "supervisors and ops only).", ["site", "session_id", "call_id", "mode", "seat"],
                    site=_STR, session_id=_STR, call_id=_STR, mode=_STR, seat=_STR,
                    supervisor=_STR, answered={"type": "boolean"},
                    roles={"type": "array", "items": _STR})
       for name, kind, verb in (("EventSupervisionJoined", "supervision_joined", "joined"),
                                ("EventSupervisionEnded", "supervision_ended", "ended"))},
    "EventsLost": _event("events_lost", "This reader was slow: `count` events were dropped; "
                         "read the state again.", ["count"], count={"type": "integer"}),
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Call": CALL,
    "Transfer": TRANSFER,
    **EVENTS,
    "Event": {
        "description": "One message of the events WebSocket, by its `type`.",
        "oneOf": [{"$ref": _REF + name} for name in EVENTS],
        "discriminator": {"propertyName": "type", "mapping": {
            schema["properties"]["type"]["const"]: _REF + name
            for name, schema in EVENTS.items()}},
    },
}
