"""The endpoints for sessions, live calls, seats, suggestions, overflow, live events
and the document: each asks one collaborator and answers JSON."""
from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web

from services.api.access import (
    actor,
    call_view,
    check_may_act,
    check_may_manage_seat,
    may_see_call,
)
from services.api.core import Ctx, Reply, bearer_token
from services.api.desk import ACTION_KEYS
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
from services.api.openapi import DOCUMENT
from services.api.throttle import Throttled


async def call_summary(ctx: Ctx) -> dict[str, Any]:
    """The agent's summary of the call: a new suggestion, recorded on the call's order."""
    call = _known_call(ctx)
    check_may_act(ctx.user, call)
    result = await ctx.deps.desk.summary_changed(call["call_id"], ctx.body["summary"],
                                                 actor=actor(ctx.user))
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
             if may_see_call(ctx.user, c) and site in (None, c.get("site"))]
    return {"calls": [call_view(ctx.user, c) for c in calls]}


async def get_call(ctx: Ctx) -> dict[str, Any]:
    call = _known_call(ctx)
    if not may_see_call(ctx.user, call):
        raise Forbidden("this call belongs to another site or platform", error_id="other_site")
    return call_view(ctx.user, call)


async def call_action(ctx: Ctx) -> Reply:
    call = _known_call(ctx)
    check_may_act(ctx.user, call)
    action = ctx.params["action"]
    key = ACTION_KEYS[action]
    allowed = call.get("allowed_actions")
    if allowed is not None and action not in allowed:
        # the machine would refuse the key in this state: say so now, as the desk's buttons do
        raise Conflict(f"{action} is not possible in state {call.get('state')}",
                       error_id="action_not_allowed", state=call.get("state"), allowed=allowed)
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
    check_may_manage_seat(ctx.user, site, seat)
    desk = ctx.deps.desk
    changed = await (desk.pause(site, seat) if pause else desk.resume(site, seat))
    if changed is None:
        raise NotFound(f"no seat {seat} at site {site}", error_id="seat_not_found")
    return changed


async def pause_seat(ctx: Ctx) -> dict[str, Any]:
    return await _seat_change(ctx, pause=True)


async def resume_seat(ctx: Ctx) -> dict[str, Any]:
    return await _seat_change(ctx, pause=False)


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
    if not await ctx.deps.desk.set_overflow(site, enabled, actor=actor(ctx.user), reason=reason):
        raise NotFound(f"site {site} is unknown or has no overflow partner",
                       error_id="site_not_found")
    return {"site": site, "enabled": enabled}


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
