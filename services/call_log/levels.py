"""Service levels per site and per hour, from call-log rows: pure functions.

Which calls count: the citizen calls that *arrived* at the site in the hour (hand-overs
from the other platform are counted where the citizen called, not again where they were
handed) and have *ended* (a live call has no outcome yet). For each such call:

- offered: how many;
- answer rate (接通率) = answered / offered, answered meaning a seat of the site picked up;
- within 15 s / within 20 s = calls answered with a wait of at most 15 s (20 s) / offered:
  NENA's call-answering standard (90 % within 15 s, 95 % within 20 s) counts every call
  that arrived, so a call abandoned after 5 s counts against it, not for it;
- abandonment rate = calls no seat answered (`abandoned` or `callback`) / offered;
- wait = from arrival until a seat answered, or until the citizen left unanswered, over
  every offered call; average and p90;
- p90 is the nearest-rank percentile: sort the n waits, take the ⌈0.9·n⌉-th (1-based), so
  at least 90 % of the waits are at or below it and the figure is one actually observed;
- average handling time = from answer until the call ended at this site (the agent's talk
  and any transfer that followed), over the answered calls.

An hour without offered calls has no rates: they are null (never 0, which would read as
"nobody answered"); `offered` is 0.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

TARGETS_S = (15.0, 20.0)
UNANSWERED = ("abandoned", "callback")


@dataclass(frozen=True)
class CallFacts:
    """What service levels need of one call-log row."""

    site: str
    arrived_at: datetime
    via_trunk: bool
    outcome: str
    answered: bool
    wait_s: float | None
    handled_s: float | None


@dataclass(frozen=True)
class ServiceLevel:
    site: str
    hour: str                     # the hour's start, ISO 8601 in UTC
    offered: int
    answered: int
    abandoned: int
    answered_within_15s: int
    answered_within_20s: int
    answer_rate: float | None
    within_15s_rate: float | None
    within_20s_rate: float | None
    abandonment_rate: float | None
    average_wait_s: float | None
    p90_wait_s: float | None
    average_handling_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def p90(values: Sequence[float]) -> float | None:
    """The nearest-rank 90th percentile; None for no values."""
    return percentile(values, 90)


def percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def counted(call: CallFacts) -> bool:
    """A call the site's service levels count: a citizen's own call, ended."""
    return not call.via_trunk and call.outcome != "live"


def level_of(site: str, hour: datetime, calls: Sequence[CallFacts]) -> ServiceLevel:
    """The figures of one site's hour, from that hour's calls (already chosen)."""
    offered = [c for c in calls if counted(c)]
    answered = [c for c in offered if c.answered]
    waits = [c.wait_s for c in offered if c.wait_s is not None]
    handled = [c.handled_s for c in answered if c.handled_s is not None]
    within = {t: sum(1 for c in answered if c.wait_s is not None and c.wait_s <= t)
              for t in TARGETS_S}
    abandoned = sum(1 for c in offered if c.outcome in UNANSWERED)
    n = len(offered)
    return ServiceLevel(
        site=site, hour=hour.isoformat(), offered=n, answered=len(answered),
        abandoned=abandoned, answered_within_15s=within[15.0], answered_within_20s=within[20.0],
        answer_rate=_rate(len(answered), n), within_15s_rate=_rate(within[15.0], n),
        within_20s_rate=_rate(within[20.0], n), abandonment_rate=_rate(abandoned, n),
        average_wait_s=_mean(waits), p90_wait_s=p90(waits), average_handling_s=_mean(handled))


def service_levels(calls: Iterable[CallFacts], sites: Sequence[str], since: datetime,
                   until: datetime) -> list[ServiceLevel]:
    """Every site's every hour from `since`'s hour up to `until` (exclusive), empty hours
    included, so a chart shows the gaps; calls outside the range are left out."""
    first, buckets = hour_of(since), {}
    for call in calls:
        if not since <= call.arrived_at < until:
            continue
        buckets.setdefault((call.site, hour_of(call.arrived_at)), []).append(call)
    hours, hour = [], first
    while hour < until:
        hours.append(hour)
        hour += timedelta(hours=1)
    return [level_of(site, h, buckets.get((site, h), [])) for site in sites for h in hours]
