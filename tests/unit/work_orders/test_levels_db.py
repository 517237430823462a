"""Service levels worked out by the database equal levels.service_levels() on the same
rows, for generated call logs (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from services.call_log.apply import CallLog
from services.call_log.levels import CallFacts, service_levels
from services.call_log.models import CallLogRow
from services.call_log.record import OUTCOMES
from services.work_orders.db import make_engine, make_session_factory

from .conftest import START

SITES = ["12345", "110"]
SINCE = START + timedelta(minutes=10)          # mid-hour: the first hour is partial
UNTIL = SINCE + timedelta(hours=2)
TABLE = CallLogRow.__table__
# whole milliseconds, as record._seconds stores them; a few values often, for ties
MILLIS = st.one_of(st.none(), st.sampled_from([0, 1, 15000, 15001, 20000, 2500]),
                   st.integers(0, 90_000)).map(lambda ms: None if ms is None else ms / 1000)


def row(n: int, **fields):
    """A call-log row with the columns service levels do not read filled in."""
    return {"call_id": f"c{n}", "platform": "12345", "origin_site": "12345",
            "citizen_number": "13800138000", "order_id": f"WO-{n}", "linked_order_id": None,
            "seat": None, "seats": [], "ended_at": None, "ended_by": None, "taken_by": None,
            "overflowed": False, "transfers": [], "legs": [], "recording_ids": None, **fields}


@st.composite
def call_rows(draw, n: int, crowded: bool):
    """A generated call; `crowded`: a citizen's call to 12345 in one hour, so the hour's
    group is large (the p90 rank then moves with n)."""
    if crowded:
        arrived = START + timedelta(hours=1, microseconds=draw(st.integers(0, 3600 * 10**6 - 1)))
        site, via_trunk = "12345", False
    else:
        arrived = START - timedelta(minutes=30) + timedelta(
            microseconds=draw(st.integers(0, 4 * 3600 * 10**6)))
        site, via_trunk = draw(st.sampled_from([*SITES, "12345-b"])), draw(st.booleans())
    wait = draw(MILLIS)
    answered = draw(st.booleans())
    return row(n, site=site, via_trunk=via_trunk, arrived_at=arrived,
               answered_at=arrived + timedelta(seconds=wait or 0) if answered else None,
               wait_s=wait, handled_s=draw(MILLIS), outcome=draw(st.sampled_from(OUTCOMES)))


CALL_LOGS = st.tuples(st.integers(0, 40), st.booleans()).flatmap(
    lambda drawn: st.tuples(*(call_rows(n, drawn[1]) for n in range(drawn[0]))))


def facts(row) -> CallFacts:
    return CallFacts(site=row["site"], arrived_at=row["arrived_at"], via_trunk=row["via_trunk"],
                     outcome=row["outcome"], answered=row["answered_at"] is not None,
                     wait_s=row["wait_s"], handled_s=row["handled_s"])


async def levels_in_db(url: str, rows) -> list:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(TABLE))
            if rows:
                await conn.execute(insert(TABLE), list(rows))
        return await CallLog(make_session_factory(engine)).service_levels(SITES, SINCE, UNTIL)
    finally:
        await engine.dispose()


async def test_the_database_works_out_what_python_works_out_from_the_rows(db_url):
    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(rows=CALL_LOGS)
    def same_levels(rows):
        with ThreadPoolExecutor(1) as pool:   # this test's own loop is running
            found = pool.submit(asyncio.run, levels_in_db(db_url, rows)).result()
        assert found == service_levels([facts(r) for r in rows], SITES, SINCE, UNTIL)

    same_levels()


async def test_an_hour_by_hand_in_the_database(db_url):
    rows = [row(i, site="12345", via_trunk=False, arrived_at=SINCE + timedelta(minutes=i),
                outcome=outcome, wait_s=wait, handled_s=handled,
                answered_at=None if outcome == "abandoned" else SINCE)
            for i, (outcome, wait, handled) in enumerate([
                ("answered", 4.0, 60.0), ("answered", 15.0, 30.0), ("handed_over", 18.0, 90.0),
                ("transfer_failed", 25.0, 40.0), ("abandoned", 9.0, None),
                ("abandoned", 31.0, None), ("live", 1.0, None)])]
    rows.append(row(9, site="12345", via_trunk=True, arrived_at=SINCE, outcome="answered",
                    wait_s=99.0, handled_s=9.0, answered_at=SINCE))
    level = (await levels_in_db(db_url, rows))[0]
    assert (level.offered, level.answered, level.abandoned) == (6, 4, 2)
    assert (level.answered_within_15s, level.answered_within_20s) == (2, 3)
    assert level.p90_wait_s == 31.0 and level.average_wait_s == 17.0
    assert level.average_handling_s == 55.0 and level.hour == START.isoformat()
