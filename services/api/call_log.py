"""The call log (`GET /call-log`, `/call-log/export`, `/call-log/{call_id}`) and service
levels (`GET /reports/service-levels`), for supervisors and ops.

A user with a site sees that site's calls only (asking for another is 403); searching by a
citizen's number is for supervisors only and is audited like a caller-history lookup.
Supervisors see whole numbers, ops masked ones. Exports the table their own `OPERATIONS`.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from services.api.callers import audit_lookup
from services.api.core import Ctx, Operation, _ready
from services.api.errors import ApiError, Forbidden
from services.api.export import csv_line, neutralise
from services.api.shapes import (
    BOARD_ROLES,
    DATETIME,
    INT,
    NAME,
    NUMBER,
    ORDER_ID,
    SITE,
    STR,
    listing,
    shape,
)
from services.call_log.apply import CallLog, CallLogQuery
from services.call_log.record import OUTCOMES

MAX_RANGE = timedelta(days=31)   # service levels: at most this many hours in one answer
CSV_COLUMNS = ("call_id", "site", "platform", "origin_site", "via_trunk", "citizen_number",
               "order_id", "linked_order_id", "arrived_at", "answered_at", "seat", "seats",
               "wait_s", "handled_s", "ended_at", "ended_by", "taken_by", "outcome",
               "overflowed", "transfers", "recording_ids")


def call_log_of(ctx: Ctx) -> CallLog:
    return _ready(ctx.deps.call_log, "call-log")


def _sites(ctx: Ctx) -> list[str]:
    """The asked sites, narrowed to the user's own (403 for another site)."""
    asked, user = ctx.query.get("site") or [], ctx.user
    if user.site is None:
        return list(asked)
    if any(site != user.site for site in asked):
        raise Forbidden(f"you see only site {user.site}'s calls", error_id="other_site",
                        your_site=user.site)
    return [user.site]


def _query(ctx: Ctx) -> CallLogQuery:
    q = ctx.query
    number = q.get("number")
    if number is not None and ctx.user.role != "supervisor":
        raise Forbidden("only supervisors search by a citizen's number",
                        error_id="number_search_forbidden")
    return CallLogQuery(since=q.get("since"), until=q.get("until"), sites=_sites(ctx),
                        seat=q.get("seat"), number=number, outcomes=q.get("outcome") or (),
                        order_id=q.get("order"))


async def list_call_log(ctx: Ctx) -> dict[str, Any]:
    query = _query(ctx)
    limit, offset = ctx.query.get("limit", 50), ctx.query.get("offset", 0)
    items, total = await call_log_of(ctx).search(
        query, limit=limit, offset=offset, whole_numbers=ctx.user.role == "supervisor")
    if query.number is not None:
        audit_lookup(ctx, "call_log_search", query.number, len(items))
    after = offset + len(items)
    return {"items": items, "total": total, "next": after if after < total else None}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):   # transfers: mode:outcome, in order
            return ";".join(f"{t.get('mode')}:{t.get('outcome')}" for t in value)
        return ";".join(str(v) for v in value)
    return neutralise(str(value))


async def export_call_log(ctx: Ctx) -> web.StreamResponse:
    """Streamed a batch at a time; cells a spreadsheet would run as formulas neutralised."""
    query = _query(ctx)
    log = call_log_of(ctx)
    _, total = await log.search(query, limit=1)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8", "X-Call-Count": str(total),
        "Content-Disposition": 'attachment; filename="call-log.csv"'})
    await response.prepare(ctx.request)
    await response.write(csv_line(list(CSV_COLUMNS)).encode("utf-8"))
    shown = 0
    async for row in log.iter_rows(query, whole_numbers=ctx.user.role == "supervisor"):
        shown += 1
        await response.write(csv_line([_cell(row[c]) for c in CSV_COLUMNS]).encode("utf-8"))
    if query.number is not None:
        audit_lookup(ctx, "call_log_export", query.number, shown)
    await response.write_eof()
    return response


async def get_call_log(ctx: Ctx) -> dict[str, Any]:
    call_id, log = ctx.params["call_id"], call_log_of(ctx)
    items, _ = await log.search(CallLogQuery(call_id=call_id), limit=1,
                                whole_numbers=ctx.user.role == "supervisor")
    if not items or not ctx.user.covers_site(items[0]["site"]):
        # another site's call is as unknown as a missing one: ids are not probed this way
        raise ApiError(f"no call {call_id!r} in the call log"[:200], error_id="unknown_call",
                       status=404)
    return {**items[0], "steps": await log.steps(call_id)}


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def service_levels(ctx: Ctx) -> dict[str, Any]:
    now = datetime.now(UTC)
    until = ctx.query.get("until") or _hour(now) + timedelta(hours=1)
    since = ctx.query.get("since") or until - timedelta(hours=24)
    if since >= until or until - since > MAX_RANGE:
        raise ApiError("since must come before until, at most 31 days apart",
                       error_id="bad_range", status=400)
    sites = _sites(ctx) or sorted(ctx.deps.site_platforms) or ["12345", "110"]
    rows = await call_log_of(ctx).service_levels(sites, since, until)
    return {"since": since.isoformat(), "until": until.isoformat(),
            "rows": [row.to_dict() for row in rows]}


_LIST = {"type": "array", "minItems": 1, "maxItems": 10}
FILTERS = {
    "since": DATETIME, "until": DATETIME,
    "site": {**_LIST, "items": SITE},
    "seat": {"type": "string", "pattern": r"^[0-9]{1,16}$"},
    "number": NUMBER,
    "outcome": {**_LIST, "items": {"type": "string", "enum": list(OUTCOMES)}},
    "order": ORDER_ID,
}
NUM = {"type": ["number", "null"]}
CALL_LOG_ROW = shape(
    ["call_id", "site", "platform", "citizen_number", "order_id", "arrived_at", "outcome",
     "transfers", "legs"],
    call_id=STR, site=STR, platform=STR, origin_site=STR, via_trunk={"type": "boolean"},
    citizen_number=STR, order_id=STR, linked_order_id={"type": ["string", "null"]},
    arrived_at=STR, answered_at={"type": ["string", "null"]}, seat={"type": ["string", "null"]},
    seats={"type": "array"}, wait_s=NUM, handled_s=NUM, ended_at={"type": ["string", "null"]},
    ended_by={"type": ["string", "null"]}, taken_by={"type": ["string", "null"]},
    outcome={"type": "string", "enum": list(OUTCOMES)}, overflowed={"type": "boolean"},
    transfers={"type": "array", "items": {"type": "object"}},
    legs={"type": "array", "items": {"type": "object"}},
    recording_ids={"type": ["array", "null"]})
RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
LEVEL_ROW = shape(
    ["site", "hour", "offered", "answer_rate"], site=STR, hour=STR, offered=INT, answered=INT,
    abandoned=INT, answered_within_15s=INT, answered_within_20s=INT, answer_rate=RATE,
    within_15s_rate=RATE, within_20s_rate=RATE, abandonment_rate=RATE, average_wait_s=NUM,
    p90_wait_s=NUM, average_handling_s=NUM)
FILTER_TEXT = (
    "Filters combine (AND): `since` ≤ arrival < `until`; `site` (a list; a user with a site "
    "sees only it, 403 for another); `seat` (the seat that answered, or any later one); "
    "`number` (supervisors only, matched whole in any written form, audited); `outcome` (a "
    "list); `order` (the call's own or its linked order). ")

OPERATIONS: list[Operation] = [
    Operation("GET", "/call-log", list_call_log, "The call log, a page at a time", "reports",
              roles=BOARD_ROLES, errors=(403,),
              ok_schema=shape(["items", "total", "next"],
                              items={"type": "array", "items": CALL_LOG_ROW}, total=INT,
                              next={"type": ["integer", "null"]}),
              description="One row per call at each platform it reached (a hand-over is a "
              "row at each side, joined by their orders): arrival, wait, answer, seats, "
              "transfers and three-ways with their outcomes, end and who hung up "
              "(`ended_by`), orders and recording ids. " + FILTER_TEXT +
              "Newest first; `next` is the next page's `offset`. Outcomes: "
              + ", ".join(OUTCOMES) + ".",
              query={**FILTERS, "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                     "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000}}),
    Operation("GET", "/call-log/export", export_call_log, "Export the call log as CSV",
              "reports", roles=BOARD_ROLES, errors=(403,), ok_media="text/csv",
              description="Streamed, with the filters of `GET /call-log` and an "
              "`X-Call-Count` header. Transfers are `mode:outcome` joined by `;`. Cells "
              "starting `=`, `+`, `-`, `@`, tab or CR get a leading `'`.",
              query=FILTERS),
    Operation("GET", "/call-log/{call_id}", get_call_log, "One call's log row and its steps",
              "reports", roles=BOARD_ROLES, params={"call_id": NAME},
              ok_schema=shape(["call_id", "steps"], call_id=STR, steps={"type": "array"}),
              description="The row and every step the controller reported, in order. "
              "Another site's call is 404 to a user with a site."),
    Operation("GET", "/reports/service-levels", service_levels,
              "Service levels per site and hour", "reports", roles=BOARD_ROLES,
              errors=(403,), ok_schema=shape(["since", "until", "rows"], since=STR,
                                             until=STR, rows={"type": "array",
                                                              "items": LEVEL_ROW}),
              description="Every site's every UTC hour from `since` to `until` (default: "
              "the last 24 hours; at most 31 days), empty hours included with null rates. "
              "Counted: citizen calls that arrived at the site in the hour and have ended "
              "(hand-overs count where the citizen called). answer_rate (接通率) = answered "
              "/ offered; within_15s_rate and within_20s_rate = answered with a wait of at "
              "most 15 s (20 s) / offered (NENA: 90% and 95%); abandonment_rate = "
              "unanswered / offered; wait = arrival to answer, or to the citizen leaving; "
              "p90 is the nearest rank (the ⌈0.9·n⌉-th smallest); average_handling_s = "
              "answer to end, over answered calls.",
              query={"since": DATETIME, "until": DATETIME, "site": {**_LIST, "items": SITE}}),
]
