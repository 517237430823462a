"""The endpoint table: every route with its roles, parameters, body and answer schemas.

The endpoints themselves (each parses, already done by `core.endpoint`, asks one
collaborator, and answers JSON) are in `call_endpoints` and `order_endpoints`; who may
see or do what is decided in `access`, in small named checks; the schema pieces are in
`shapes`.
"""
from __future__ import annotations

from services.api.call_endpoints import (
    call_action,
    call_summary,
    events,
    get_call,
    get_overflow,
    list_calls,
    list_seats,
    login,
    logout,
    openapi,
    pause_seat,
    resume_seat,
    revoke_sessions,
    set_overflow,
    suggest,
    whoami,
)
from services.api.accounts import ACCOUNT_ROLES
from services.api.core import Operation
from services.api.desk import ACTION_KEYS
from services.api.order_endpoints import (
    change_status,
    export_orders,
    forward_order,
    get_order,
    hotspots,
    list_orders,
    overdue,
    rates,
    record_visit,
    submit_order,
    update_order,
)
from services.api.shapes import (
    AGENTS,
    BOARD_ROLES,
    BOARD_ROW,
    BOOL,
    CALL_OUT,
    CATEGORY,
    DATETIME,
    HOTSPOT_ROW,
    INT,
    LEVEL,
    NAME,
    NUMBER,
    ORDER_ID,
    ORDER_OUT,
    ORDER_ROLES,
    ORDER_ROW,
    PLATFORMS,
    RATE_ROW,
    REGION,
    SEAT_OUT,
    SITE,
    STR,
    SUGGESTION_OUT,
    USER_OUT,
    listing,
    nullable,
    obj,
    shape,
    text,
)
from services.work_orders.reports import GROUP_FIELDS, PERIODS
from services.work_orders.status import Status

# ---- the table ------------------------------------------------------------------------------
CALL_PARAMS = {"call_id": NAME}
ORDER_PARAMS = {"order_id": ORDER_ID}
SEAT_PARAMS = {"site": SITE, "seat": SITE}
PERIOD = {"type": "string", "enum": list(PERIODS)}
SINCE_UNTIL = {"since": DATETIME, "until": DATETIME}
HISTORY_ITEM = obj(
    ["when"], when=DATETIME, summary=text(2000),
    flags={"type": "array", "maxItems": 20, "items": text(32)},
    order_id=nullable(text(64)), open={"type": "boolean"}, target=nullable(text(32)),
    category=nullable(text(64)))

OPERATIONS: list[Operation] = [
    Operation("POST", "/session", login, "Log in with a password; returns a session token",
              "session", authenticated=False, ok=201, errors=(401, 429),
              ok_schema=shape(["token", "token_type", "expires_in", "user"], token=STR,
                              token_type=STR, expires_in=INT, user=USER_OUT),
              body=obj(["user", "password"], user=text(64, 1), password=text(256, 1))),
    Operation("GET", "/session", whoami, "Who the token belongs to", "session",
              roles=ACCOUNT_ROLES, ok_schema=shape(["user"], user=USER_OUT)),
    Operation("DELETE", "/session", logout, "End this session token", "session",
              roles=ACCOUNT_ROLES, ok_schema=shape(["logged_out"], logged_out=BOOL)),
    Operation("DELETE", "/users/{user}/sessions", revoke_sessions,
              "End every session of a user (a lost device, a leaver)", "session",
              roles=BOARD_ROLES, params={"user": NAME}, errors=(403,),
              ok_schema=shape(["user", "revoked"], user=STR, revoked=INT)),
    Operation("GET", "/openapi.json", openapi, "This document", "meta", roles=ACCOUNT_ROLES),
    Operation("GET", "/calls", list_calls, "List live calls", "calls",
              query={"site": SITE}, ok_schema=listing("calls", CALL_OUT)),
    Operation("GET", "/calls/{call_id}", get_call, "One live call", "calls",
              params=CALL_PARAMS, errors=(403,), ok_schema=CALL_OUT),
    Operation("POST", "/calls/{call_id}/actions/{action}", call_action,
              "Press a feature key on a call", "calls", roles=(*AGENTS, "supervisor"),
              params={**CALL_PARAMS, "action": {"type": "string", "enum": list(ACTION_KEYS)}},
              ok=202, errors=(403, 409),
              ok_schema=shape(["call_id", "action", "key", "accepted"], call_id=STR,
                              action=STR, key=STR, accepted=BOOL),
              description="Posts the action's key (transfer *1, three_way *2, hand_over *3, "
              "keep *4, cancel *0, suggested_line *8) through the call's state machine, "
              "exactly as the agent's softphone would. The call's `allowed_actions` (in "
              "`GET /calls/{call_id}` and the call events) lists what its state accepts now; "
              "any other action is 409 `action_not_allowed`. 202 means the key was posted; if "
              "the state changed meanwhile and refuses it, a `key_refused` event follows."),
    Operation("PUT", "/calls/{call_id}/summary", call_summary,
              "The agent's summary of a call: re-suggests the line, records it on the order",
              "calls", roles=(*AGENTS, "supervisor"), params=CALL_PARAMS,
              errors=(403, 409), body=obj(["summary"], summary=text(4000)),
              ok_schema=shape(["call_id", "changed", "suggestion"], call_id=STR,
                              changed=BOOL, suggestion={"type": "object"})),
    Operation("GET", "/seats", list_seats, "List seats and their states", "seats",
              ok_schema=listing("seats", SEAT_OUT)),
    Operation("POST", "/seats/{site}/{seat}/pause", pause_seat, "Pause a seat", "seats",
              params=SEAT_PARAMS, errors=(403,), ok_schema=SEAT_OUT),
    Operation("POST", "/seats/{site}/{seat}/resume", resume_seat, "Resume a seat", "seats",
              params=SEAT_PARAMS, errors=(403,), ok_schema=SEAT_OUT),
    Operation("GET", "/orders", list_orders, "List and filter orders", "orders",
              roles=ORDER_ROLES, errors=(403,), ok_schema=listing("orders", ORDER_ROW), query={
                  "status": {"type": "string", "enum": [str(s) for s in Status]},
                  "platform": {"type": "string", "enum": PLATFORMS},
                  "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                  "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000}}),
    Operation("POST", "/orders", submit_order, "Submit a request received online", "orders",
              roles=ORDER_ROLES, ok=201, errors=(403,),
              ok_schema=shape(["order_id", "platform", "channel"], order_id=STR,
                              platform=STR, channel=STR),
              body=obj(["citizen_number", "region_code", "summary"],
                       platform={"type": "string", "enum": PLATFORMS}, citizen_number=NUMBER,
                       region_code=REGION, summary=text(4000, 1), category=CATEGORY,
                       level=LEVEL)),
    Operation("GET", "/orders/export", export_orders, "Export every order (JSONL or CSV)",
              "orders", roles=("supervisor",), ok_media="application/x-ndjson",
              ok_media_alt=("text/csv",),
              description="Streamed. A supervisor with a site gets only that site's "
              "platform's orders. CSV cells starting `=`, `+`, `-`, `@`, tab or CR get a "
              "leading `'` so that no spreadsheet runs them as formulas.",
              query={"format": {"type": "string", "enum": ["jsonl", "csv"]}}),
    Operation("GET", "/orders/{order_id}", get_order,
              "One order with its audit trail and links", "orders", roles=ORDER_ROLES,
              params=ORDER_PARAMS, ok_schema=ORDER_OUT,
              description="A 12345 agent sees a 110 order (and the reverse) only through "
              "its link: status, outcome, link and feedback (`restricted: true`), and 403 "
              "without a link. The citizen's number is whole only for supervisors and the "
              "agent on the order's call."),
    Operation("PATCH", "/orders/{order_id}", update_order,
              "Change an order's summary, category or level", "orders", roles=ORDER_ROLES,
              params=ORDER_PARAMS,
              body={**obj([], summary=text(4000), category=CATEGORY, level=LEVEL),
                    "minProperties": 1}),
    Operation("POST", "/orders/{order_id}/status", change_status,
              "Move an order along the status table", "orders", roles=ORDER_ROLES,
              params=ORDER_PARAMS, errors=(409,),
              body=obj(["status"], status={"type": "string", "enum": [str(s) for s in Status]},
                       note=text(2000), outcome=text(2000), next_steps=text(2000),
                       department=text(128, 1))),
    Operation("POST", "/orders/{order_id}/visits", record_visit, "Record a return visit",
              "orders", roles=ORDER_ROLES, params=ORDER_PARAMS, ok=201, errors=(409,),
              body=obj(["resolved", "satisfied"], resolved={"type": "boolean"},
                       satisfied={"type": "boolean"}, note=text(2000))),
    Operation("POST", "/orders/{order_id}/forward", forward_order,
              "Forward an order to the other platform as a linked order", "orders",
              roles=ORDER_ROLES, params=ORDER_PARAMS, ok=201, errors=(409,),
              ok_schema=shape(["order_id", "linked_order_id"], order_id=STR,
                              linked_order_id=STR),
              body=obj([], note=text(2000))),
    Operation("POST", "/suggestions", suggest, "Suggest the line for a text", "suggestions",
              roles=ORDER_ROLES, ok_schema=SUGGESTION_OUT,
              body=obj(["text"], text=text(4000), context=obj(
                  [], site=SITE, ivr_choice=nullable(text(32)),
                  history={"type": "array", "maxItems": 50, "items": HISTORY_ITEM}))),
    Operation("GET", "/overflow", get_overflow, "Overflow per site: active, why, ops switch",
              "overflow",
              ok_schema=shape(["sites", "status"], sites={"type": "object"},
                              status={"type": "object"})),
    Operation("PUT", "/overflow", set_overflow,
              "Force a site's overflow on or off (null: automatic), with a reason; audited",
              "overflow", roles=BOARD_ROLES, errors=(404,),
              ok_schema=shape(["site", "enabled"], site=STR,
                              enabled={"type": ["boolean", "null"]}),
              body=obj(["site", "enabled"], site=SITE, enabled={"type": ["boolean", "null"]},
                       reason=text(500))),
    Operation("GET", "/reports/rates", rates, "Response, resolution and satisfaction rates",
              "reports", roles=BOARD_ROLES, ok_schema=listing("rows", RATE_ROW), query={
                  "by": {"type": "array", "maxItems": 4,
                         "items": {"type": "string", "enum": list(GROUP_FIELDS)}},
                  "period": PERIOD, "platform": {"type": "string", "enum": PLATFORMS},
                  **SINCE_UNTIL}),
    Operation("GET", "/reports/overdue", overdue, "Overdue orders under supervision",
              "reports", roles=BOARD_ROLES, ok_schema=listing("items", BOARD_ROW)),
    Operation("GET", "/reports/hotspots", hotspots,
              "Order counts by category, region and period", "reports", roles=BOARD_ROLES,
              ok_schema=shape(["period", "complete", "rows"], period=STR, complete=BOOL,
                              rows={"type": "array", "items": HOTSPOT_ROW}),
              query={"period": PERIOD, "platform": {"type": "string", "enum": PLATFORMS},
                     "top": {"type": "integer", "minimum": 1, "maximum": 1000},
                     **SINCE_UNTIL}),
    Operation("GET", "/events", events, "Live events (WebSocket)", "events", ok=101,
              errors=(403, 426),
              description="A WebSocket of JSON events for this user: `hello`, "
              "`call_incoming` (pop-up, to the rung seat only), `call_state`, `key_refused`, "
              "`suggestion`, `supervision`, `transfer_created`, `transfer_updated`, `transfer_ended`, "
              "`events_lost`. Authenticate with the "
              "Authorization header or, for browsers, `?token=`. A browser's `Origin` must "
              "be this server's (or one listed in HOTLINE_API_ORIGINS): 403 `bad_origin`."),
]
