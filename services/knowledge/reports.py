"""Knowledge-base reports per department: seed 002 assesses each department on how well
it keeps its entries current (the share of published entries past their review date),
and the desk and the surge IVR record every use of an answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import KbEntry, KbUse
from .status import EntryStatus


async def department_report(session: AsyncSession, now: datetime, *,
                            since: datetime | None = None,
                            until: datetime | None = None) -> list[dict[str, Any]]:
    """Per department: entries by status, published ones past review, uses in the period
    and the IVR callers' choices after an answer."""
    rows: dict[str, dict[str, Any]] = {}

    def row(department: str) -> dict[str, Any]:
        return rows.setdefault(department, {
            "department": department, "entries": 0, "published": 0,
            "by_status": {str(s): 0 for s in EntryStatus}, "past_review": 0,
            "stale_share": None, "uses": 0, "ivr_outcomes": {}})

    for entry in await session.scalars(select(KbEntry)):
        r = row(entry.department)
        r["entries"] += 1
        r["by_status"][entry.status] += 1
        if entry.status == EntryStatus.PUBLISHED:
            r["published"] += 1
            r["past_review"] += entry.review_at <= now
    uses = select(KbEntry.department, func.count(KbUse.id)).join(
        KbEntry, KbEntry.entry_id == KbUse.entry_id)
    if since is not None:
        uses = uses.where(KbUse.at >= since)
    if until is not None:
        uses = uses.where(KbUse.at < until)
    for department, count in await session.execute(uses.group_by(KbEntry.department)):
        row(department)["uses"] = int(count)
    ivr = uses.where(KbUse.channel == "ivr").add_columns(KbUse.outcome)
    for department, count, outcome in await session.execute(
            ivr.group_by(KbEntry.department, KbUse.outcome)):
        row(department)["ivr_outcomes"][outcome or "none"] = int(count)
    for r in rows.values():
        if r["published"]:
            r["stale_share"] = round(r["past_review"] / r["published"], 4)
    return [rows[k] for k in sorted(rows)]
