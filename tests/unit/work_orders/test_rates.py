from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.work_orders.levels import DEFAULT_TZ
from services.work_orders.reports import OrderFacts, compute_rates, period_key

from .helpers import open_order


async def handled(
    service, clock, department, *, reply_after=None, visit=None, region="620102", level="2h"
):
    order_id = await open_order(service, level=level, region_code=region)
    await service.assign(order_id, department, "agent")
    await service.transition(order_id, "in_progress", department)
    if reply_after is not None:
        clock.advance(**reply_after)
        await service.transition(order_id, "replied", department, outcome="ok")
        clock.now -= timedelta(**reply_after)
    if visit is not None:
        await service.record_visit(order_id, "visitor", resolved=visit[0], satisfied=visit[1])
    return order_id


async def test_three_rates_per_department(service, clock):
    await handled(service, clock, "住建局", reply_after={"hours": 1}, visit=(True, True))
    await handled(service, clock, "住建局", reply_after={"hours": 3}, visit=(False, False))
    await handled(service, clock, "住建局", reply_after={"minutes": 30}, visit=(True, False))
    await handled(service, clock, "水务局", reply_after={"hours": 1}, visit=(True, True))
    await handled(service, clock, "水务局")  # not replied, still within its 2 h
    clock.advance(hours=1)
    rows = {row.group["department"]: row for row in await service.rates(by=["department"])}
    housing, water = rows["住建局"], rows["水务局"]
    assert (housing.orders, housing.due, housing.responded_on_time) == (3, 3, 2)
    assert housing.response_rate == pytest.approx(2 / 3)
    assert housing.resolution_rate == pytest.approx(2 / 3)
    assert housing.satisfaction_rate == pytest.approx(1 / 3)
    assert (water.orders, water.due, water.response_rate) == (2, 1, 1.0)
    clock.advance(hours=2)  # now the unreplied one is due and late
    water = {r.group["department"]: r for r in await service.rates()}["水务局"]
    assert (water.due, water.response_rate) == (2, 0.5)


async def test_rates_per_region_and_period_leave_out_transfers_and_duplicates(service, clock):
    await handled(service, clock, "d", reply_after={"hours": 1}, region="620102")
    await handled(service, clock, "d", reply_after={"hours": 1}, region="620103")
    moved = await open_order(service, region_code="620102")
    await service.transfer(moved, "handover", "agent")
    dup = await open_order(service, region_code="620102")
    await service.mark_duplicate(dup, moved, "agent")
    rows = await service.rates(by=["region", "period"], period="month", platform="12345")
    assert [(r.group, r.orders, r.response_rate, r.resolution_rate) for r in rows] == [
        ({"region": "620102", "period": "2026-11"}, 1, 1.0, None),
        ({"region": "620103", "period": "2026-11"}, 1, 1.0, None),
    ]


async def test_latest_return_visit_counts(service, clock):
    order_id = await handled(service, clock, "d", reply_after={"hours": 1}, visit=(False, False))
    await service.record_visit(order_id, "visitor", resolved=True, satisfied=True)
    (row,) = await service.rates()
    assert (row.visited, row.resolved, row.satisfied) == (1, 1, 1)


async def test_rates_come_from_the_log_after_a_reopen(service, clock):
    order_id = await handled(service, clock, "d", reply_after={"hours": 1})
    await service.transition(order_id, "in_progress", "citizen disputes")
    clock.advance(hours=5)
    await service.transition(order_id, "replied", "d")
    (row,) = await service.rates()
    assert row.response_rate == 1.0  # first reply was on time


async def test_since_and_until_select_the_period(service, clock):
    await handled(service, clock, "d", reply_after={"hours": 1})
    clock.advance(days=40)
    await handled(service, clock, "d", reply_after={"hours": 3})
    december = datetime(2026, 12, 1, tzinfo=ZoneInfo(DEFAULT_TZ))
    (row,) = await service.rates(since=december)
    assert (row.orders, row.response_rate) == (1, 0.0)
    (row,) = await service.rates(until=december)
    assert (row.orders, row.response_rate) == (1, 1.0)


def test_period_keys_use_site_time():
    tz = ZoneInfo(DEFAULT_TZ)
    late_utc = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 1 December 01:00 in Beijing
    assert period_key(late_utc, "day", tz) == "2026-12-01"
    assert period_key(late_utc, "month", tz) == "2026-12"
    assert period_key(late_utc, "week", tz) == "2026-W49"
    with pytest.raises(ValueError):
        period_key(late_utc, "fortnight", tz)


def test_unknown_grouping_is_refused():
    with pytest.raises(ValueError):
        compute_rates(
            [], by=["mood"], period="month", tz=ZoneInfo(DEFAULT_TZ), now=datetime.now(UTC)
        )


def test_empty_groups_have_no_rate_rather_than_zero():
    now = datetime(2026, 11, 23, tzinfo=UTC)
    fact = OrderFacts(
        "WO-1",
        "12345",
        "d",
        "620102",
        "7d",
        now,
        now + timedelta(days=7),
        "in_progress",
        None,
        True,
    )
    (row,) = compute_rates(
        [fact], by=["department"], period="month", tz=ZoneInfo(DEFAULT_TZ), now=now
    )
    assert (row.response_rate, row.resolution_rate, row.satisfaction_rate) == (None, None, None)
