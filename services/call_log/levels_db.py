"""Service levels worked out by the database: two statements, whatever the traffic.

The controller's /metrics watch asks for every site's current and previous hour every
few seconds; loading each call-log row of those hours into Python grew with the city's
load. Here the database groups the hours' calls by site and hour (counts, and sums in
whole milliseconds, so they are exact in any order) and finds each group's p90 wait by
nearest rank with a window function; Python only turns the totals into rates
(levels.level_from), as it does for rows (levels.totals_of). The results equal
levels.service_levels() on the same rows (tests/unit/work_orders/test_levels_db.py,
SQLite and PostgreSQL).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .levels import TARGETS_S, UNANSWERED, HourTotals, ServiceLevel, hours_between, level_from
from .models import CallLogRow

CALL_LOG = CallLogRow.__table__


def _hour(dialect: str) -> Any:
    """The UTC hour a call arrived in, as 'YYYY-MM-DDTHH:00:00' (SQLite keeps UTC)."""
    at = CALL_LOG.c.arrived_at
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", at), 'YYYY-MM-DD"T"HH24:00:00')
    return func.strftime("%Y-%m-%dT%H:00:00", at)


def _counted(sites: Sequence[str], since: datetime, until: datetime, dialect: str) -> Any:
    """The offered calls of the range (levels.counted), with their hour: a subquery."""
    c = CALL_LOG.c
    return (select(c.site, _hour(dialect).label("hour"), c.outcome, c.answered_at, c.wait_s,
                   c.handled_s)
            .where(c.arrived_at >= since, c.arrived_at < until, c.site.in_(list(sites)),
                   c.via_trunk.is_(False), c.outcome != "live")
            .subquery())


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _ms(column: Any, *conditions: Any) -> Any:
    """Whole milliseconds of `column` where it is set (and `conditions` hold), summed as
    integers (levels.millis)."""
    return func.coalesce(func.sum(case(
        (and_(column.is_not(None), *conditions), cast(func.round(column * 1000), BigInteger)),
        else_=0)), 0)


def _totals_query(calls: Any) -> Any:
    answered = calls.c.answered_at.is_not(None)
    within = [_count(and_(answered, calls.c.wait_s.is_not(None), calls.c.wait_s <= t))
              for t in TARGETS_S]
    return (select(calls.c.site, calls.c.hour, func.count(),
                   _count(answered), _count(calls.c.outcome.in_(UNANSWERED)), *within,
                   func.count(calls.c.wait_s), _ms(calls.c.wait_s),
                   _count(and_(answered, calls.c.handled_s.is_not(None))),
                   _ms(calls.c.handled_s, answered))
            .group_by(calls.c.site, calls.c.hour))


def _p90_query(calls: Any) -> Any:
    """Each site's hour's wait at rank ⌈0.9·n⌉ (levels.p90_rank) among its n waits."""
    group = (calls.c.site, calls.c.hour)
    ranked = (select(calls.c.site, calls.c.hour, calls.c.wait_s,
                     func.row_number().over(partition_by=group, order_by=calls.c.wait_s)
                     .label("rank"),
                     func.count().over(partition_by=group).label("n"))
              .where(calls.c.wait_s.is_not(None))
              .subquery())
    return (select(ranked.c.site, ranked.c.hour, ranked.c.wait_s)
            .where(ranked.c.rank == (ranked.c.n * 9 + 9) // 10))


async def service_levels_in_db(session: AsyncSession, sites: Sequence[str], since: datetime,
                               until: datetime) -> list[ServiceLevel]:
    """As levels.service_levels() over the call log's rows in the range, every site's
    every hour listed (empty ones with null rates)."""
    dialect = (await session.connection()).dialect.name
    calls = _counted(sites, since, until, dialect)
    p90s = {(site, hour): wait for site, hour, wait in await session.execute(_p90_query(calls))}
    totals: dict[tuple[str, datetime], HourTotals] = {}
    for site, hour, *figures in await session.execute(_totals_query(calls)):
        (offered, answered, abandoned, within_15s, within_20s, waits, wait_ms, handled,
         handled_ms) = (int(f) for f in figures)
        totals[(site, _utc(hour))] = HourTotals(
            offered=offered, answered=answered, abandoned=abandoned, within_15s=within_15s,
            within_20s=within_20s, waits=waits, wait_ms=wait_ms, handled=handled,
            handled_ms=handled_ms, p90_wait_s=p90s.get((site, hour)))
    return [level_from(site, h, totals.get((site, h), HourTotals()))
            for site in sites for h in hours_between(since, until)]


def _utc(hour: str) -> datetime:
    return datetime.fromisoformat(hour).replace(tzinfo=UTC)
