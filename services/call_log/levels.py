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
  every offered call; average and p90 (averages are taken over whole milliseconds, the
  log's precision, summed as integers: the same to the last digit whether Python or the
  database adds them, in whatever order);
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


@dataclass(frozen=True)
class HourTotals:
    """What one site's hour adds up to: counts, sums in whole milliseconds, the p90 wait.
    Worked out from rows here (`totals_of`) or by the database (`levels_db.py`)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within_15s: int = 0
    within_20s: int = 0
    waits: int = 0              # offered calls with a wait
    wait_ms: int = 0
    handled: int = 0            # answered calls with a handling time
    handled_ms: int = 0
    p90_wait_s: float | None = None


def millis(seconds: float) -> int:
    """A logged duration in whole milliseconds (the log stores seconds rounded to the
    millisecond, record._seconds, so this is exact; SQL's ROUND gives the same)."""
    return round(seconds * 1000)


def p90_rank(n: int) -> int:
    """The 1-based nearest rank of the 90th percentile among n values: ⌈0.9·n⌉ in integers
    (what the database computes too)."""
    return max(1, (9 * n + 9) // 10)


def p90(values: Sequence[float]) -> float | None:
    """The nearest-rank 90th percentile; None for no values."""
    return sorted(values)[p90_rank(len(values)) - 1] if values else None


def percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _mean_ms(total_ms: int, n: int) -> float | None:
    return round(total_ms / n / 1000, 3) if n else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def counted(call: CallFacts) -> bool:
    """A call the site's service levels count: a citizen's own call, ended."""
    return not call.via_trunk and call.outcome != "live"


def totals_of(calls: Sequence[CallFacts]) -> HourTotals:
    """One site's hour added up, from that hour's calls (already chosen)."""
    offered = [c for c in calls if counted(c)]
    answered = [c for c in offered if c.answered]
    waits = [c.wait_s for c in offered if c.wait_s is not None]
    handled = [c.handled_s for c in answered if c.handled_s is not None]
    within = {t: sum(1 for c in answered if c.wait_s is not None and c.wait_s <= t)
              for t in TARGETS_S}
    return HourTotals(
        offered=len(offered), answered=len(answered),
        abandoned=sum(1 for c in offered if c.outcome in UNANSWERED),
        within_15s=within[15.0], within_20s=within[20.0],
        waits=len(waits), wait_ms=sum(millis(w) for w in waits),
        handled=len(handled), handled_ms=sum(millis(h) for h in handled),
        p90_wait_s=p90(waits))


def level_from(site: str, hour: datetime, t: HourTotals) -> ServiceLevel:
    """The figures of one site's hour, from its totals."""
    n = t.offered
    return ServiceLevel(
        site=site, hour=hour.isoformat(), offered=n, answered=t.answered,
        abandoned=t.abandoned, answered_within_15s=t.within_15s,
        answered_within_20s=t.within_20s, answer_rate=_rate(t.answered, n),
        within_15s_rate=_rate(t.within_15s, n), within_20s_rate=_rate(t.within_20s, n),
        abandonment_rate=_rate(t.abandoned, n), average_wait_s=_mean_ms(t.wait_ms, t.waits),
        p90_wait_s=t.p90_wait_s, average_handling_s=_mean_ms(t.handled_ms, t.handled))


def level_of(site: str, hour: datetime, calls: Sequence[CallFacts]) -> ServiceLevel:
    """The figures of one site's hour, from that hour's calls (already chosen)."""
    return level_from(site, hour, totals_of(calls))


def hours_between(since: datetime, until: datetime) -> list[datetime]:
    """Every hour's start from `since`'s hour up to `until` (exclusive)."""
    hours, hour = [], hour_of(since)
    while hour < until:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def service_levels(calls: Iterable[CallFacts], sites: Sequence[str], since: datetime,
                   until: datetime) -> list[ServiceLevel]:
    """Every site's every hour from `since`'s hour up to `until` (exclusive), empty hours
    included, so a chart shows the gaps; calls outside the range are left out."""
    buckets: dict[tuple[str, datetime], list[CallFacts]] = {}
    for call in calls:
        if not since <= call.arrived_at < until:
            continue
        buckets.setdefault((call.site, hour_of(call.arrived_at)), []).append(call)
    return [level_of(site, h, buckets.get((site, h), []))
            for site in sites for h in hours_between(since, until)]
