"""Caller history (`GET /callers/{number}/history`) and the catalogues the desk reads
(`GET /categories`, `GET /levels`).

History is matched on the caller's whole number in the database, never on a masked one.
Looking a number up is a privacy event: an agent may look up only the citizen on the call
they answer, a supervisor any number of their platform, and every lookup leaves an audit
line (who, when, which number as a hash and masked, how many orders were shown).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.api.access import site_platform
from services.api.core import Ctx, Operation
from services.api.errors import Forbidden
from services.api.shapes import (
    BOOL,
    INT,
    NUMBER,
    OPT_STR,
    ORDER_ROLES,
    STR,
    shape,
)
from services.privacy import mask_number
from services.work_orders.levels import ResponseLevel
from services.work_orders.search import OrderQuery, number_forms, search_orders

log = logging.getLogger("hotline.api.audit")

AuditSink = Callable[[dict[str, Any]], None]


def _canonical(number: str) -> str:
    return min(number_forms(number), key=len)


def number_digest(number: str) -> str:
    """A stable hash of a number in all its written forms: an auditor who holds a number can
    find its lookups; a reader of the audit file learns no number."""
    return hashlib.sha256(_canonical(number).encode()).hexdigest()[:24]


class JsonlAudit:
    """Appends one JSON line per lookup to a file (`<data dir>/lookup-audit.jsonl`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def audit_lookup(ctx: Ctx, what: str, number: str, shown: int) -> None:
    entry = {"at": datetime.now(UTC).isoformat(), "what": what, "user": ctx.user.name,
             "role": ctx.user.role, "site": ctx.user.site, "number": mask_number(_canonical(number)),
             "number_sha256": number_digest(number), "orders_shown": shown,
             "remote": ctx.request.remote}
    log.info("lookup %s by %s of %s: %d orders", what, ctx.user.name, entry["number"], shown)
    sink = getattr(ctx.deps, "audit", None)
    if sink is not None:
        sink(entry)


def _on_call_with(ctx: Ctx, number: str) -> bool:
    """The agent is answering a live call from this number now."""
    user, forms = ctx.user, set(number_forms(number))
    return any(c.get("seat") == user.seat and c.get("site") == user.site
               and c.get("citizen_number") in forms and c.get("state") != "ended"
               for c in ctx.deps.desk.calls())


def history_scope(ctx: Ctx, number: str) -> str | None:
    """The platform whose orders this user may see for this number (None: both), or 403."""
    user = ctx.user
    if user.is_agent:
        if not _on_call_with(ctx, number):
            raise Forbidden("an agent looks up only the citizen on the call they answer",
                            error_id="not_your_caller")
        return user.platform
    return site_platform(ctx)


async def caller_history(ctx: Ctx) -> dict[str, Any]:
    number = ctx.params["number"]
    platform = history_scope(ctx, number)
    limit, offset = ctx.query.get("limit", 20), ctx.query.get("offset", 0)
    items, total = await search_orders(ctx.orders, OrderQuery(number=number, platform=platform),
                                       limit=limit, offset=offset)
    audit_lookup(ctx, "caller_history", number, len(items))
    after = offset + len(items)
    return {"number": number, "items": items, "total": total, "next": after if after < total else None}


async def categories(ctx: Ctx) -> dict[str, Any]:
    return {"categories": [
        {"code": c.code, "name": c.name, "group": c.group, "level": str(c.level),
         "keywords": list(c.keywords)} for c in ctx.orders.categories]}


LEVEL_TEXT = {
    ResponseLevel.URGENT: "突发事件、不稳定因素、生命财产安全风险 · emergencies, risk to life or property",
    ResponseLevel.UTILITY: "水电气热 · water, power, gas, heat",
    ResponseLevel.GENERAL: "其他事项 · everything else",
    ResponseLevel.COMPLEX: "复杂疑难 · complex (the reply gives next steps)",
}


async def levels(ctx: Ctx) -> dict[str, Any]:
    return {"levels": [
        {"code": str(level), "period_s": int(level.period.total_seconds()),
         "counts_days": level.counts_days, "description": LEVEL_TEXT[level]}
        for level in ResponseLevel]}


ORDER_ITEM = shape(
    ["order_id", "platform", "status", "level", "opened_at", "citizen"],
    order_id=STR, platform=STR, status=STR, level=STR, category=OPT_STR, department=OPT_STR,
    region_code=STR, channel=STR, opened_at=STR, deadline_at=STR, citizen=STR,
    summary=STR, location={"type": ["object", "null"]})
PAGE = {"limit": {"type": "integer", "minimum": 1, "maximum": 200},
        "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000}}

OPERATIONS: list[Operation] = [
    Operation("GET", "/callers/{number}/history", caller_history,
              "A caller's earlier orders, matched on the whole number", "orders",
              roles=ORDER_ROLES, params={"number": NUMBER}, query=PAGE, errors=(403,),
              ok_schema=shape(["number", "items", "total", "next"], number=STR,
                              items={"type": "array", "items": ORDER_ITEM}, total=INT,
                              next={"type": ["integer", "null"]}),
              description="Orders whose citizen number is this one (13800138000, "
              "+8613800138000 and 008613800138000 are one number), newest first. An agent "
              "may look up only the citizen on the call they answer (403 `not_your_caller`) "
              "and sees their platform's orders; a supervisor with a site sees that site's "
              "platform's. Every lookup is audited (`<data dir>/lookup-audit.jsonl`)."),
    Operation("GET", "/categories", categories, "Order categories and their default levels",
              "catalogue",
              ok_schema=shape(["categories"], categories={"type": "array", "items": shape(
                  ["code", "name", "group", "level"], code=STR, name=STR, group=STR,
                  level=STR, keywords={"type": "array"})})),
    Operation("GET", "/levels", levels, "Response levels (接诉即办) and their periods",
              "catalogue",
              ok_schema=shape(["levels"], levels={"type": "array", "items": shape(
                  ["code", "period_s", "counts_days"], code=STR, period_s=INT,
                  counts_days=BOOL, description=STR)})),
]

__all__ = ["OPERATIONS", "JsonlAudit", "audit_lookup", "number_digest"]
