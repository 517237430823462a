from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.work_orders.categories import default_level
from services.work_orders.levels import Calendar, Pause, ResponseLevel

SH = ZoneInfo("Asia/Shanghai")
# Monday 2026-09-28 10:00 in Shanghai; 1-7 October is the National Day holiday.
MONDAY = datetime(2026, 9, 28, 10, 0, tzinfo=SH)
NATIONAL_DAY = frozenset(date(2026, 10, d) for d in range(1, 8))


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("2h", datetime(2026, 9, 28, 12, 0, tzinfo=SH)),
        ("24h", datetime(2026, 9, 29, 10, 0, tzinfo=SH)),
        ("7d", datetime(2026, 10, 5, 10, 0, tzinfo=SH)),
        ("15d", datetime(2026, 10, 13, 10, 0, tzinfo=SH)),
    ],
)
def test_deadline_of_each_level_without_holidays(level, expected):
    assert Calendar().deadline(MONDAY, level) == expected


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        # Emergencies and utilities do not wait for a holiday.
        ("2h", datetime(2026, 9, 28, 12, 0, tzinfo=SH)),
        ("24h", datetime(2026, 9, 29, 10, 0, tzinfo=SH)),
        # 29 and 30 Sep count; 1-7 Oct do not; 8 to 12 Oct complete seven days.
        ("7d", datetime(2026, 10, 12, 10, 0, tzinfo=SH)),
        ("15d", datetime(2026, 10, 20, 10, 0, tzinfo=SH)),
    ],
)
def test_day_levels_skip_configured_holidays(level, expected):
    assert Calendar(holidays=NATIONAL_DAY).deadline(MONDAY, level) == expected


def test_working_day_sites_skip_weekends_but_count_makeup_days():
    calendar = Calendar(skip_weekends=True, workdays=frozenset({date(2026, 10, 3)}))
    # Tue..Fri (4), Sat 3 Oct make-up day (5), Mon 5, Tue 6.
    assert calendar.deadline(MONDAY, "7d") == datetime(2026, 10, 6, 10, 0, tzinfo=SH)


def test_pause_stops_the_clock_for_its_length():
    pause = Pause(MONDAY + timedelta(minutes=30), MONDAY + timedelta(hours=1, minutes=30))
    calendar = Calendar(pauses=(pause,))
    assert calendar.deadline(MONDAY, "2h") == MONDAY + timedelta(hours=3)
    assert calendar.paused_at(MONDAY + timedelta(hours=1))
    assert not calendar.paused_at(MONDAY + timedelta(hours=2))


def test_order_opened_during_a_pause_starts_its_clock_when_the_pause_ends():
    pause = Pause(MONDAY - timedelta(hours=1), MONDAY + timedelta(hours=1))
    assert Calendar(pauses=(pause,)).deadline(MONDAY, "2h") == MONDAY + timedelta(hours=3)


def test_deadline_keeps_the_timezone_of_its_start():
    start = MONDAY.astimezone(UTC)
    deadline = Calendar(holidays=NATIONAL_DAY).deadline(start, "7d")
    assert deadline.tzinfo is UTC
    assert deadline == datetime(2026, 10, 12, 10, 0, tzinfo=SH)


def test_naive_start_is_refused():
    with pytest.raises(ValueError):
        Calendar().deadline(datetime(2026, 9, 28, 10, 0), "2h")


def test_calendar_from_settings_mapping():
    calendar = Calendar.from_mapping(
        {
            "timezone": "Asia/Shanghai",
            "holidays": ["2026-10-01", date(2026, 10, 2)],
            "skip_weekends": True,
            "pauses": [{"start": "2026-09-28T10:00+08:00", "end": "2026-09-28T11:00+08:00"}],
        }
    )
    assert date(2026, 10, 1) in calendar.holidays and date(2026, 10, 2) in calendar.holidays
    assert calendar.skip_weekends and len(calendar.pauses) == 1


def test_levels_are_the_four_of_the_seeds():
    assert [lvl.period for lvl in ResponseLevel] == [
        timedelta(hours=2),
        timedelta(hours=24),
        timedelta(days=7),
        timedelta(days=15),
    ]


@pytest.mark.parametrize(
    ("category", "level"),
    [("emergency", "2h"), ("heat", "24h"), ("labour", "7d"), ("complex", "15d"), (None, "7d")],
)
def test_category_gives_default_level(category, level):
    assert default_level(category) == level
