"""The endpoints for orders and reports: each asks the work-order service and answers
JSON; who may see which order is decided in `access`."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiohttp import web

from services.api.access import actor, check_may_write_order, masked, on_call, site_platform
from services.api.core import Ctx, Reply
from services.api.errors import (
    ApiError,
    Forbidden,
)
from services.api.export import csv_chunks, jsonl_chunks
from services.work_orders.ids import platform_of
from services.work_orders.reports import period_key


# ---- orders ---------------------------------------------------------------------------------
async def list_orders(ctx: Ctx) -> dict[str, Any]:
    platform = ctx.query.get("platform")
    own = site_platform(ctx)
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
    if site_platform(ctx) not in (None, platform):
        raise Forbidden(f"a supervisor at site {ctx.user.site} submits only "
                        f"{site_platform(ctx)} orders", error_id="other_site")
    order_id = await ctx.orders.submit_online(
        platform, citizen_number=body["citizen_number"], region_code=body["region_code"],
        summary=body["summary"], category=body.get("category"), level=body.get("level"))
    return Reply({"order_id": order_id, "platform": platform, "channel": "online"}, 201)


async def export_orders(ctx: Ctx) -> web.StreamResponse:
    """Streamed a batch at a time (never the whole database in memory); CSV cells that a
    spreadsheet would run as formulas are neutralised."""
    fmt = ctx.query.get("format", "jsonl")
    platform = site_platform(ctx)
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
    own = site_platform(ctx)
    if own is not None and platform_of(order_id) != own:
        raise Forbidden(f"a supervisor at site {user.site} sees only {own} orders",
                        error_id="other_site", order_id=order_id)
    view = await ctx.orders.view(order_id, user.role)
    if view.get("restricted"):
        return view
    call = ctx.deps.desk.call(view["call_id"]) if view.get("call_id") else None
    if user.role == "supervisor" or on_call(user, call):
        if "*" in (view.get("citizen_number") or ""):
            view["citizen_number"] = (await ctx.orders.record(order_id))["citizen_number"]
    else:
        view["citizen_number"] = masked(view.get("citizen_number"))
    return view


async def update_order(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    check_may_write_order(ctx.user, order_id, ctx)
    await ctx.orders.update_details(order_id, actor(ctx.user), **ctx.body)
    return {"order_id": order_id, "changed": sorted(ctx.body)}


async def change_status(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    check_may_write_order(ctx.user, order_id, ctx)
    body = ctx.body
    await ctx.orders.transition(
        order_id, body["status"], actor(ctx.user), note=body.get("note", ""),
        outcome=body.get("outcome"), next_steps=body.get("next_steps"),
        department=body.get("department"))
    return {"order_id": order_id, "status": body["status"]}


async def record_visit(ctx: Ctx) -> Reply:
    order_id = ctx.params["order_id"]
    check_may_write_order(ctx.user, order_id, ctx)
    body = ctx.body
    await ctx.orders.record_visit(order_id, actor(ctx.user), resolved=body["resolved"],
                                       satisfied=body["satisfied"], note=body.get("note", ""))
    return Reply({"order_id": order_id, "resolved": body["resolved"],
                  "satisfied": body["satisfied"]}, 201)


async def forward_order(ctx: Ctx) -> Reply:
    order_id = ctx.params["order_id"]
    check_may_write_order(ctx.user, order_id, ctx)
    linked = await ctx.orders.forward_online(order_id, actor(ctx.user),
                                                  ctx.body.get("note", ""))
    return Reply({"order_id": order_id, "linked_order_id": linked}, 201)


# ---- reports --------------------------------------------------------------------------------
HOTSPOT_SCAN = 20_000


def _report_platform(ctx: Ctx) -> str | None:
    """The asked platform; a site-bound supervisor gets only their site's (403 otherwise)."""
    asked, own = ctx.query.get("platform"), site_platform(ctx)
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
    own = site_platform(ctx)
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
