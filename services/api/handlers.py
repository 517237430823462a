"""The endpoints: each parses (already done by `core.endpoint`), asks one collaborator,
and answers JSON. Who may see or do what is decided here, in small named checks.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web

from services.api.accounts import ACCOUNT_ROLES, User
from services.api.core import Ctx, Operation, Reply, bearer_token
from services.api.desk import ACTION_KEYS
from services.api.dispatch import OPERATIONS as DISPATCH_OPERATIONS
from services.api.errors import (
    ApiError,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    dumps,
)
from services.api.events import Subscription
from services.api.export import csv_chunks, jsonl_chunks
from services.api.openapi import DOCUMENT
from services.api.throttle import Throttled
from services.privacy import mask_number
from services.work_orders.ids import ORDER_ID_PATTERN, platform_of
from services.work_orders.levels import ResponseLevel
from services.work_orders.reports import GROUP_FIELDS, PERIODS, period_key
from services.work_orders.status import Status

# ---- schemas --------------------------------------------------------------------------------
PLATFORMS = ["12345", "110"]
NAME = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"}
SITE = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,32}$"}
ORDER_ID = {"type": "string", "pattern": ORDER_ID_PATTERN.pattern}
DATETIME = {"type": "string", "format": "date-time", "maxLength": 40}
NUMBER = {"type": "string", "pattern": r"^\+?[0-9]{3,20}$"}
REGION = {"type": "string", "pattern": r"^\d{6}(\d{3}(\d{3})?)?$"}
CATEGORY = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,63}$"}
LEVEL = {"type": "string", "enum": [str(level) for level in ResponseLevel]}


# Free text: anything but control characters (tab and newlines allowed), as schema.py checks.
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]*$"


def text(limit: int, minimum: int = 0) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, "pattern": TEXT_PATTERN,
            **({"minLength": minimum} if minimum else {})}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def obj(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


def shape(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    """A response object: these keys at least (more may come later)."""
    return {"type": "object", "required": required, "properties": properties}


def listing(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return shape([key], **{key: {"type": "array", "items": item}})


STR, BOOL, INT = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
OPT_STR = {"type": ["string", "null"]}
USER_OUT = shape(["name", "role", "site", "seat"], name=STR, role=STR, site=OPT_STR,
                 seat=OPT_STR)
CALL_OUT = shape(["call_id", "site", "platform", "state", "citizen_number", "order_id", "seat"],
                 call_id=STR, site=STR, platform=STR, state=STR, citizen_number=OPT_STR,
                 order_id=OPT_STR, linked_order_id=OPT_STR, seat=OPT_STR)
SEAT_OUT = shape(["site", "seat", "state"], site=STR, seat=STR, state=STR, registered=BOOL)
ORDER_ROW = shape(["order_id", "platform", "status", "level", "citizen"], order_id=STR,
                  platform=STR, status=STR, level=STR, category=OPT_STR, department=OPT_STR,
                  opened_at=STR, deadline_at=STR, citizen=STR)
ORDER_OUT = shape(["order_id", "platform", "status", "restricted"], order_id=STR, platform=STR,
                  status=STR, restricted=BOOL, citizen_number=STR,
                  history={"type": "array"}, links={"type": "array"},
                  linked={"type": "array"}, feedback={"type": "array"})
RATE_ROW = shape(["group", "orders", "response_rate", "resolution_rate", "satisfaction_rate"],
                 group={"type": "object"}, orders=INT,
                 response_rate={"type": ["number", "null"]},
                 resolution_rate={"type": ["number", "null"]},
                 satisfaction_rate={"type": ["number", "null"]})
HOTSPOT_ROW = shape(["category", "region", "period", "orders"], category=STR, region=STR,
                    period=STR, orders=INT)
BOARD_ROW = shape(["order_id", "platform", "tier", "deadline_at", "overdue_by_s"],
                  order_id=STR, platform=STR, tier=INT, deadline_at=STR,
                  overdue_by_s={"type": "number"})
SUGGESTION_OUT = shape(["target", "category", "emergency", "confidence", "uncertain",
                        "reasons"], target=STR, category=OPT_STR, emergency=BOOL,
                       confidence={"type": "number"}, uncertain=BOOL,
                       reasons={"type": "array"}, alternatives={"type": "array"})

AGENTS = ("agent_12345", "agent_110")
ORDER_ROLES = (*AGENTS, "supervisor")
BOARD_ROLES = ("supervisor", "ops")


# ---- who may see and do what ----------------------------------------------------------------
def _actor(user: User) -> str:
    return f"api:{user.name}"


def _masked(number: str | None) -> str | None:
    """`number` masked; a number the service masked already is left as it is."""
    if not number or "*" in number:
        return number
    return mask_number(number)


def _on_call(user: User, call: dict[str, Any] | None) -> bool:
    """The user is the agent answering this call."""
    return (call is not None and user.is_agent and user.seat is not None
            and call.get("seat") == user.seat and call.get("site") == user.site)


def _may_see_call(user: User, call: dict[str, Any]) -> bool:
    if not user.covers_site(call.get("site")):
        return False
    return not user.is_agent or call.get("platform") == user.platform


def _call_view(user: User, call: dict[str, Any]) -> dict[str, Any]:
    view = dict(call)
    if user.role != "supervisor" and not _on_call(user, call):
        view["citizen_number"] = _masked(call.get("citizen_number"))
    return view


def _check_may_act(user: User, call: dict[str, Any]) -> None:
    """Only someone working at the call's own site acts on it; an agent only on their call."""
    if user.site is None or user.site != call.get("site"):
        raise Forbidden("this call belongs to another site", error_id="other_site",
                        call_site=call.get("site"), your_site=user.site)
    if user.is_agent:
        if call.get("platform") != user.platform:
            raise Forbidden("this call belongs to the other platform", error_id="other_platform")
        if call.get("seat") is None:
            raise Conflict("nobody has answered this call yet", error_id="call_not_answered")
        if call.get("seat") != user.seat:
            raise Forbidden("this call is answered at another seat", error_id="not_your_call")


def _check_may_manage_seat(user: User, site: str, seat: str) -> None:
    if user.is_agent and (user.site != site or user.seat != seat):
        raise Forbidden("an agent pauses and resumes only their own seat", error_id="not_your_seat")
    if not user.covers_site(site):
        raise Forbidden("this seat belongs to another site", error_id="other_site")


def _site_platform(ctx: Ctx) -> str | None:
    """The platform whose orders a site-bound supervisor sees (their site's); None: all."""
    user = ctx.user
    if user.role != "supervisor" or user.site is None:
        return None
    return ctx.deps.site_platforms.get(user.site, user.site)


def _check_may_write_order(user: User, order_id: str, ctx: Ctx | None = None) -> None:
    if user.is_agent and platform_of(order_id) != user.platform:
        raise Forbidden(f"a {user.platform} agent sees this order only through its link",
                        error_id="other_platform", order_id=order_id)
    own = _site_platform(ctx) if ctx is not None else None
    if own is not None and platform_of(order_id) != own:
        raise Forbidden(f"a supervisor at site {user.site} sees only {own} orders",
                        error_id="other_site", order_id=order_id)


async def call_summary(ctx: Ctx) -> dict[str, Any]:
    """The agent's summary of the call: a new suggestion, recorded on the call's order."""
    call = _known_call(ctx)
    _check_may_act(ctx.user, call)
    result = await ctx.deps.desk.summary_changed(call["call_id"], ctx.body["summary"],
                                                 actor=_actor(ctx.user))
    if result is None:
        raise ApiError("routing suggestions are not ready yet", error_id="unavailable",
                       status=503)
    return result


# ---- session --------------------------------------------------------------------------------
async def login(ctx: Ctx) -> Reply:
    try:
        result = await ctx.deps.accounts.login(ctx.body["user"], ctx.body["password"],
                                               ctx.request.remote)
    except Throttled as exc:
        raise TooManyRequests(exc.retry_after) from None
    if result is None:
        raise Unauthorized("wrong user or password", error_id="login_failed")
    user, token, ttl = result
    return Reply({"token": token, "token_type": "Bearer", "expires_in": int(ttl),
                  "user": user.public()}, 201)


async def whoami(ctx: Ctx) -> dict[str, Any]:
    return {"user": ctx.user.public()}


async def logout(ctx: Ctx) -> dict[str, Any]:
    return {"logged_out": await ctx.deps.accounts.logout(bearer_token(ctx.request) or "")}


async def revoke_sessions(ctx: Ctx) -> dict[str, Any]:
    """End every session of a user: ops for anyone, a supervisor for their site's users."""
    name = ctx.params["user"]
    target = ctx.deps.accounts.get(name)
    if target is None:
        raise NotFound(f"no user {name}", error_id="user_not_found")
    if ctx.user.role != "ops" and not ctx.user.covers_site(target.site):
        raise Forbidden("this user works at another site", error_id="other_site")
    return {"user": name, "revoked": await ctx.deps.accounts.revoke(name)}


# ---- calls ----------------------------------------------------------------------------------
def _known_call(ctx: Ctx) -> dict[str, Any]:
    call = ctx.deps.desk.call(ctx.params["call_id"])
    if call is None:
        raise NotFound("no such call (it may have ended)", error_id="call_not_found",
                       call_id=ctx.params["call_id"])
    return call


async def list_calls(ctx: Ctx) -> dict[str, Any]:
    site = ctx.query.get("site")
    calls = [c for c in ctx.deps.desk.calls()
             if _may_see_call(ctx.user, c) and site in (None, c.get("site"))]
    return {"calls": [_call_view(ctx.user, c) for c in calls]}


async def get_call(ctx: Ctx) -> dict[str, Any]:
    call = _known_call(ctx)
    if not _may_see_call(ctx.user, call):
        raise Forbidden("this call belongs to another site or platform", error_id="other_site")
    return _call_view(ctx.user, call)


async def call_action(ctx: Ctx) -> Reply:
    call = _known_call(ctx)
    _check_may_act(ctx.user, call)
    action = ctx.params["action"]
    key = ACTION_KEYS[action]
    if not await ctx.deps.desk.press(call["call_id"], key):
        raise Conflict("the call cannot take a key now (not answered, or ended)",
                       error_id="call_not_answered", call_id=call["call_id"])
    return Reply({"call_id": call["call_id"], "action": action, "key": key, "accepted": True},
                 202)


# ---- seats ----------------------------------------------------------------------------------
async def list_seats(ctx: Ctx) -> dict[str, Any]:
    return {"seats": [s for s in ctx.deps.desk.seats() if ctx.user.covers_site(s.get("site"))]}


async def _seat_change(ctx: Ctx, pause: bool) -> dict[str, Any]:
    site, seat = ctx.params["site"], ctx.params["seat"]
    _check_may_manage_seat(ctx.user, site, seat)
    desk = ctx.deps.desk
    changed = await (desk.pause(site, seat) if pause else desk.resume(site, seat))
    if changed is None:
        raise NotFound(f"no seat {seat} at site {site}", error_id="seat_not_found")
    return changed


async def pause_seat(ctx: Ctx) -> dict[str, Any]:
    return await _seat_change(ctx, pause=True)


async def resume_seat(ctx: Ctx) -> dict[str, Any]:
    return await _seat_change(ctx, pause=False)


# ---- orders ---------------------------------------------------------------------------------
async def list_orders(ctx: Ctx) -> dict[str, Any]:
    platform = ctx.query.get("platform")
    own = _site_platform(ctx)
    if own is not None:
        if platform not in (None, own):
            raise Forbidden(f"a supervisor at site {ctx.user.site} lists only {own} orders",
                            error_id="other_site")
        platform = own
    if ctx.user.is_agent:
        if platform not in (None, ctx.user.platform):
            raise Forbidden(f"a {ctx.user.platform} agent lists only {ctx.user.platform} orders",
                            error_id="other_platform")
        platform = ctx.user.platform
    orders = await ctx.orders.list_orders(
        status=ctx.query.get("status"), platform=platform,
        limit=ctx.query.get("limit", 100), offset=ctx.query.get("offset", 0))
    return {"orders": orders}


async def submit_order(ctx: Ctx) -> Reply:
    body = ctx.body
    platform = body.get("platform") or ctx.user.platform
    if platform is None:
        raise ApiError("say which platform takes the submission", error_id="invalid_body",
                       status=422, problems=[{"path": "/platform", "message": "is required"}])
    if ctx.user.is_agent and platform != ctx.user.platform:
        raise Forbidden(f"a {ctx.user.platform} agent submits only {ctx.user.platform} orders",
                        error_id="other_platform")
    if _site_platform(ctx) not in (None, platform):
        raise Forbidden(f"a supervisor at site {ctx.user.site} submits only "
                        f"{_site_platform(ctx)} orders", error_id="other_site")
    order_id = await ctx.orders.submit_online(
        platform, citizen_number=body["citizen_number"], region_code=body["region_code"],
        summary=body["summary"], category=body.get("category"), level=body.get("level"))
    return Reply({"order_id": order_id, "platform": platform, "channel": "online"}, 201)


async def export_orders(ctx: Ctx) -> web.StreamResponse:
    """Streamed a batch at a time (never the whole database in memory); CSV cells that a
    spreadsheet would run as formulas are neutralised."""
    fmt = ctx.query.get("format", "jsonl")
    platform = _site_platform(ctx)
    orders = ctx.orders
    count = await orders.count_orders(platform)
    media = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    response = web.StreamResponse(headers={
        "Content-Type": f"{media}; charset=utf-8", "X-Order-Count": str(count),
        "Content-Disposition": f'attachment; filename="orders.{fmt}"'})
    await response.prepare(ctx.request)
    records = orders.iter_records(platform=platform)
    chunks = csv_chunks(records) if fmt == "csv" else jsonl_chunks(records)
    async for chunk in chunks:
        await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response


async def get_order(ctx: Ctx) -> dict[str, Any]:
    order_id, user = ctx.params["order_id"], ctx.user
    own = _site_platform(ctx)
    if own is not None and platform_of(order_id) != own:
        raise Forbidden(f"a supervisor at site {user.site} sees only {own} orders",
                        error_id="other_site", order_id=order_id)
    view = await ctx.orders.view(order_id, user.role)
    if view.get("restricted"):
        return view
    call = ctx.deps.desk.call(view["call_id"]) if view.get("call_id") else None
    if user.role == "supervisor" or _on_call(user, call):
        if "*" in (view.get("citizen_number") or ""):
            view["citizen_number"] = (await ctx.orders.record(order_id))["citizen_number"]
    else:
        view["citizen_number"] = _masked(view.get("citizen_number"))
    return view


async def update_order(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    _check_may_write_order(ctx.user, order_id, ctx)
    await ctx.orders.update_details(order_id, _actor(ctx.user), **ctx.body)
    return {"order_id": order_id, "changed": sorted(ctx.body)}


async def change_status(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    _check_may_write_order(ctx.user, order_id, ctx)
    body = ctx.body
    await ctx.orders.transition(
        order_id, body["status"], _actor(ctx.user), note=body.get("note", ""),
        outcome=body.get("outcome"), next_steps=body.get("next_steps"),
        department=body.get("department"))
    return {"order_id": order_id, "status": body["status"]}


async def record_visit(ctx: Ctx) -> Reply:
    order_id = ctx.params["order_id"]
    _check_may_write_order(ctx.user, order_id, ctx)
    body = ctx.body
    await ctx.orders.record_visit(order_id, _actor(ctx.user), resolved=body["resolved"],
                                       satisfied=body["satisfied"], note=body.get("note", ""))
    return Reply({"order_id": order_id, "resolved": body["resolved"],
                  "satisfied": body["satisfied"]}, 201)


async def forward_order(ctx: Ctx) -> Reply:
    order_id = ctx.params["order_id"]
    _check_may_write_order(ctx.user, order_id, ctx)
    linked = await ctx.orders.forward_online(order_id, _actor(ctx.user),
                                                  ctx.body.get("note", ""))
    return Reply({"order_id": order_id, "linked_order_id": linked}, 201)


# ---- suggestions and overflow ---------------------------------------------------------------
async def suggest(ctx: Ctx) -> dict[str, Any]:
    from services.routing.service import context_from_dict

    raw = ctx.body.get("context")
    context = context_from_dict(raw) if raw is not None else None
    return ctx.routing.suggest(ctx.body["text"], context).to_dict()


async def get_overflow(ctx: Ctx) -> dict[str, Any]:
    sites = ctx.deps.desk.overflow()
    status = ctx.deps.desk.overflow_status()
    return {"sites": {site: on for site, on in sites.items() if ctx.user.covers_site(site)},
            "status": {site: detail for site, detail in status.items()
                       if ctx.user.covers_site(site)}}


async def set_overflow(ctx: Ctx) -> dict[str, Any]:
    """启动应急联动预案: force overflow on (true) or off (false), or back to automatic (null)."""
    site, enabled = ctx.body["site"], ctx.body["enabled"]
    reason = ctx.body.get("reason") or ""
    if not ctx.user.covers_site(site):
        raise Forbidden("this site is not yours to switch", error_id="other_site")
    if not await ctx.deps.desk.set_overflow(site, enabled, actor=_actor(ctx.user), reason=reason):
        raise NotFound(f"site {site} is unknown or has no overflow partner",
                       error_id="site_not_found")
    return {"site": site, "enabled": enabled}


# ---- reports --------------------------------------------------------------------------------
HOTSPOT_SCAN = 20_000


def _report_platform(ctx: Ctx) -> str | None:
    """The asked platform; a site-bound supervisor gets only their site's (403 otherwise)."""
    asked, own = ctx.query.get("platform"), _site_platform(ctx)
    if own is not None and asked not in (None, own):
        raise Forbidden(f"a supervisor at site {ctx.user.site} sees only {own} reports",
                        error_id="other_site")
    return own or asked


async def rates(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query
    rows = await ctx.orders.rates(by=q.get("by") or ["department"],
                                       period=q.get("period", "month"), since=q.get("since"),
                                       until=q.get("until"), platform=_report_platform(ctx))
    return {"rows": [row.to_dict() for row in rows]}


async def overdue(ctx: Ctx) -> dict[str, Any]:
    own = _site_platform(ctx)
    items = [i for i in await ctx.orders.board() if own in (None, i.platform)]
    return {"items": [{**asdict(i), "overdue_by_s": i.overdue_by.total_seconds()}
                      for i in items]}


async def hotspots(ctx: Ctx) -> dict[str, Any]:
    """Orders counted by category, region and period: where complaints gather."""
    q, service = ctx.query, ctx.orders
    platform = _report_platform(ctx)
    period = q.get("period", "day")
    requests = await service.open311_requests(start=q.get("since"), end=q.get("until"),
                                              limit=HOTSPOT_SCAN)
    counts: Counter[tuple[str, str, str]] = Counter()
    for request in requests:
        extra = request["extended_attributes"]
        if platform not in (None, extra["platform"]):
            continue
        when = datetime.fromisoformat(request["requested_datetime"])
        counts[(request["service_code"] or "uncategorised", extra["region_code"],
                period_key(when, period, service.calendar.tz))] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: q.get("top", 50)]
    return {"period": period, "complete": len(requests) < HOTSPOT_SCAN,
            "rows": [{"category": c, "region": r, "period": p, "orders": n}
                     for (c, r, p), n in ranked]}


# ---- live events and the document -----------------------------------------------------------
def _check_origin(ctx: Ctx) -> None:
    """A browser names the page that opens the WebSocket: only our own pages (or an origin
    the deployment lists) may, so another site cannot ride a desk's session. Clients that
    are not browsers send no Origin."""
    origin = ctx.request.headers.get("Origin")
    if origin is None:
        return
    parsed = urlsplit(origin)
    if origin in ctx.deps.allowed_origins or (
            parsed.scheme in ("http", "https") and parsed.netloc == ctx.request.host):
        return
    raise Forbidden("this page's origin may not open the event stream",
                    error_id="bad_origin", origin=origin[:200])


async def events(ctx: Ctx) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=30)
    if not ws.can_prepare(ctx.request).ok:
        raise ApiError("connect with a WebSocket", error_id="upgrade_required", status=426)
    _check_origin(ctx)
    await ws.prepare(ctx.request)
    with ctx.deps.events.subscribe(ctx.user) as subscription:
        await ws.send_str(dumps({"type": "hello", "user": ctx.user.public()}))
        pump = asyncio.create_task(_pump(subscription, ws))
        try:
            async for _message in ws:   # the client sends nothing we act on
                pass
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
    return ws


async def _pump(subscription: Subscription, ws: web.WebSocketResponse) -> None:
    async for event in subscription:
        await ws.send_str(dumps(event))
    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


async def openapi(ctx: Ctx) -> dict[str, Any]:
    return ctx.request.app[DOCUMENT]


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
              "exactly as the agent's softphone would. 202 means the key was posted; if the "
              "call's state refuses it, a `key_refused` event follows on /events."),
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
              "`suggestion`, `supervision`, `events_lost`. Authenticate with the "
              "Authorization header or, for browsers, `?token=`. A browser's `Origin` must "
              "be this server's (or one listed in HOTLINE_API_ORIGINS): 403 `bad_origin`."),
]
OPERATIONS += DISPATCH_OPERATIONS   # services/api/dispatch.py: departments and 派单
