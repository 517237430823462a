"""Overdue flags, supervision tiers and the three rates, computed from the audit log.

Pure functions over facts read from the log, so the numbers can always be
recomputed and never drift from what happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .levels import Calendar, ResponseLevel
from .status import WAITING, Status

GROUP_FIELDS = ("department", "region", "period", "platform")
PERIODS = ("day", "week", "month", "year")


@dataclass(frozen=True)
class OrderFacts:
    """What the rates and overdue checks need to know about one order."""

    order_id: str
    platform: str
    department: str | None
    region_code: str
    level: str
    opened_at: datetime
    deadline_at: datetime
    status: str
    first_reply_at: datetime | None
    counted: bool  # False for duplicates, merged repeats and orders handed elsewhere
    visit_resolved: bool | None = None
    visit_satisfied: bool | None = None


def first_reply(status_entries: Iterable[tuple[datetime, str]]) -> datetime | None:
    """When the order first reached `replied` (the deadline is about the reply)."""
    times = [at for at, to_status in status_entries if to_status == Status.REPLIED]
    return min(times) if times else None


def is_overdue(facts: OrderFacts, now: datetime) -> bool:
    """Replied late, or still waiting for its reply after the deadline."""
    if facts.first_reply_at is not None:
        return facts.first_reply_at > facts.deadline_at
    return facts.status in WAITING and now > facts.deadline_at


@dataclass(frozen=True)
class SupervisionPolicy:
    """Tier 1 is issued at the deadline, tier n after n-1 further periods.

    A period defaults to the order's own response period on the site calendar;
    `escalate_after` overrides it per level (e.g. {"7d": timedelta(days=1)}).
    """

    max_tier: int = 3
    escalate_after: Mapping[str, timedelta] = field(default_factory=dict)

    def tier_due(self, calendar: Calendar, level: str, deadline: datetime, tier: int) -> datetime:
        if tier <= 1:
            return deadline
        step = self.escalate_after.get(level)
        if step is not None:
            return deadline + step * (tier - 1)
        return calendar.add_period(deadline, ResponseLevel(level), tier - 1)

    def tiers_due(
        self, calendar: Calendar, level: str, deadline: datetime, now: datetime
    ) -> list[int]:
        return [
            tier
            for tier in range(1, self.max_tier + 1)
            if now > self.tier_due(calendar, level, deadline, tier)
        ]


@dataclass(frozen=True)
class RateRow:
    """The three rates of one group; a rate is None when nothing was there to count."""

    group: dict[str, str]
    orders: int
    due: int
    responded_on_time: int
    visited: int
    resolved: int
    satisfied: int

    @property
    def response_rate(self) -> float | None:
        return _ratio(self.responded_on_time, self.due)

    @property
    def resolution_rate(self) -> float | None:
        return _ratio(self.resolved, self.visited)

    @property
    def satisfaction_rate(self) -> float | None:
        return _ratio(self.satisfied, self.visited)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "orders": self.orders,
            "due": self.due,
            "responded_on_time": self.responded_on_time,
            "visited": self.visited,
            "resolved": self.resolved,
            "satisfied": self.satisfied,
            "response_rate": self.response_rate,
            "resolution_rate": self.resolution_rate,
            "satisfaction_rate": self.satisfaction_rate,
        }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def period_key(moment: datetime, period: str, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return local.strftime("%Y-%m")
    if period == "year":
        return local.strftime("%Y")
    raise ValueError(f"period must be one of {PERIODS}, not {period!r}")


def compute_rates(
    facts: Iterable[OrderFacts],
    *,
    by: Sequence[str],
    period: str,
    tz: ZoneInfo,
    now: datetime,
) -> list[RateRow]:
    """Response rate: replied by the deadline, of orders replied or past their deadline.

    Resolution and satisfaction rates: of orders with a return visit, those the
    latest visit found resolved / satisfied. Orders not counted (duplicates,
    merged repeats, handed to the other platform, rejected) are left out.
    """
    unknown = set(by) - set(GROUP_FIELDS)
    if unknown:
        raise ValueError(f"cannot group by {sorted(unknown)}; choose from {GROUP_FIELDS}")
    counts: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * 6)
    for fact in facts:
        if not fact.counted:
            continue
        values = {
            "department": fact.department or "unassigned",
            "region": fact.region_code,
            "period": period_key(fact.opened_at, period, tz),
            "platform": fact.platform,
        }
        row = counts[tuple(values[name] for name in by)]
        row[0] += 1
        if fact.first_reply_at is not None or now > fact.deadline_at:
            row[1] += 1
            row[2] += fact.first_reply_at is not None and fact.first_reply_at <= fact.deadline_at
        if fact.visit_resolved is not None:
            row[3] += 1
            row[4] += bool(fact.visit_resolved)
            row[5] += bool(fact.visit_satisfied)
    return [RateRow(dict(zip(by, key, strict=True)), *row) for key, row in sorted(counts.items())]


def counted(status: str, merged_into: str | None, duplicate_of: str | None) -> bool:
    """Whether an order counts towards its platform's rates."""
    if merged_into or duplicate_of:
        return False
    return status not in (Status.TRANSFERRED, Status.REJECTED)
