"""Service-level maths against hand computations."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.call_log.levels import CallFacts, level_of, p90, percentile, service_levels

H9 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def call(minute: int, outcome: str, wait: float | None, handled: float | None = None,
         site: str = "12345", via_trunk: bool = False, hour: datetime = H9) -> CallFacts:
    answered = outcome not in ("abandoned", "callback", "live")
    return CallFacts(site, hour + timedelta(minutes=minute), via_trunk, outcome, answered,
                     wait, handled)


def test_p90_is_the_nearest_rank():
    # n=10: rank ceil(9.0)=9 -> the 9th smallest
    assert p90([float(v) for v in range(1, 11)]) == 9.0
    # n=11: rank ceil(9.9)=10
    assert p90([float(v) for v in range(1, 12)]) == 10.0
    assert p90([7.0]) == 7.0 and p90([]) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_one_hour_by_hand():
    calls = [
        call(1, "answered", 4.0, 60.0),
        call(2, "answered", 15.0, 30.0),        # exactly 15 s: within 15
        call(3, "handed_over", 18.0, 90.0),     # within 20, not 15
        call(4, "transfer_failed", 25.0, 40.0),  # neither
        call(5, "abandoned", 9.0),
        call(6, "callback", 31.0),
        call(7, "answered", 2.0, None, via_trunk=True),   # a hand-over: counted at origin
        call(8, "live", None),                            # not ended: not counted
    ]
    level = level_of("12345", H9, calls)
    assert (level.offered, level.answered, level.abandoned) == (6, 4, 2)
    assert (level.answered_within_15s, level.answered_within_20s) == (2, 3)
    assert level.answer_rate == round(4 / 6, 4)
    assert level.within_15s_rate == round(2 / 6, 4)
    assert level.within_20s_rate == round(3 / 6, 4)
    assert level.abandonment_rate == round(2 / 6, 4)
    assert level.average_wait_s == round((4 + 15 + 18 + 25 + 9 + 31) / 6, 3)
    # waits sorted 4 9 15 18 25 31; rank ceil(5.4)=6 -> 31
    assert level.p90_wait_s == 31.0
    assert level.average_handling_s == round((60 + 30 + 90 + 40) / 4, 3)


def test_empty_hours_are_listed_with_null_rates_and_sites_are_apart():
    calls = [call(10, "answered", 3.0, 20.0), call(20, "answered", 5.0, 10.0, site="110",
                                                   hour=H9 + timedelta(hours=1))]
    rows = service_levels(calls, ["12345", "110"], H9, H9 + timedelta(hours=2))
    assert [(r.site, r.hour, r.offered) for r in rows] == [
        ("12345", H9.isoformat(), 1), ("12345", (H9 + timedelta(hours=1)).isoformat(), 0),
        ("110", H9.isoformat(), 0), ("110", (H9 + timedelta(hours=1)).isoformat(), 1)]
    empty = rows[1]
    assert (empty.answer_rate, empty.average_wait_s, empty.p90_wait_s,
            empty.average_handling_s, empty.abandonment_rate) == (None,) * 5


def test_calls_outside_the_range_are_left_out():
    rows = service_levels([call(59, "answered", 1.0, 1.0), call(61, "answered", 1.0, 1.0)],
                          ["12345"], H9, H9 + timedelta(hours=1))
    assert [r.offered for r in rows] == [1]
