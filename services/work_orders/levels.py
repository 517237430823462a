"""The four response levels of 接诉即办 and the calendar their deadlines run on.

2 h and 24 h run on the wall clock: emergencies and water, power, gas and heat
do not wait for a holiday. 7 d and 15 d count calendar days, skipping configured
holidays (and weekends, if the site counts working days). Configured pauses stop
every clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"


class ResponseLevel(StrEnum):
    URGENT = "2h"  # 突发事件、不稳定因素、可能造成生命财产损失
    UTILITY = "24h"  # 水电气热等基本生活保障
    GENERAL = "7d"  # 其他事项
    COMPLEX = "15d"  # 复杂疑难诉求: reply must give the next steps

    @property
    def period(self) -> timedelta:
        return _PERIODS[self]

    @property
    def counts_days(self) -> bool:
        """True when the period is counted in calendar days that holidays skip."""
        return self in (ResponseLevel.GENERAL, ResponseLevel.COMPLEX)


_PERIODS = {
    ResponseLevel.URGENT: timedelta(hours=2),
    ResponseLevel.UTILITY: timedelta(hours=24),
    ResponseLevel.GENERAL: timedelta(days=7),
    ResponseLevel.COMPLEX: timedelta(days=15),
}


@dataclass(frozen=True)
class Pause:
    """A span during which no deadline runs (e.g. a declared system outage)."""

    start: datetime
    end: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("pause times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("a pause must end after it starts")


@dataclass(frozen=True)
class Calendar:
    """Holidays, make-up working days (调休), weekends and pauses of one site."""

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TZ))
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    skip_weekends: bool = False
    pauses: tuple[Pause, ...] = ()

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Calendar:
        """Build from a settings table, e.g. the `[work_orders.calendar]` TOML section."""
        return cls(
            tz=ZoneInfo(config.get("timezone", DEFAULT_TZ)),
            holidays=frozenset(_dates(config.get("holidays", ()))),
            workdays=frozenset(_dates(config.get("workdays", ()))),
            skip_weekends=bool(config.get("skip_weekends", False)),
            pauses=tuple(
                Pause(
                    _aware(p["start"]),
                    _aware(p["end"]),
                    p.get("reason", ""),
                )
                for p in config.get("pauses", ())
            ),
        )

    def counts(self, day: date) -> bool:
        """Whether `day` counts towards a 7 d / 15 d period."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return not (self.skip_weekends and day.weekday() >= 5)

    def paused_at(self, moment: datetime) -> bool:
        return any(p.start <= moment < p.end for p in self.pauses)

    def deadline(self, start: datetime, level: ResponseLevel | str) -> datetime:
        """When an order opened at `start` with `level` must have been replied to."""
        return self.add_period(start, ResponseLevel(level))

    def add_period(self, start: datetime, level: ResponseLevel, periods: int = 1) -> datetime:
        """`start` plus `periods` times the level's period, on this calendar."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if level.counts_days:
            local = start.astimezone(self.tz)
            day, remaining = local.date(), level.period.days * periods
            while remaining:
                day += timedelta(days=1)
                remaining -= int(self.counts(day))
            end = datetime.combine(day, local.timetz().replace(tzinfo=None), self.tz)
        else:
            end = start + level.period * periods
        return self._skip_pauses(start, end).astimezone(start.tzinfo)

    def _skip_pauses(self, start: datetime, end: datetime) -> datetime:
        # The clock runs only outside pauses: keep the running time, move the end.
        remaining, moment = end - start, start
        for pause in sorted(self.pauses, key=lambda p: p.start):
            if pause.end <= moment:
                continue
            if pause.start >= moment + remaining:
                break
            remaining -= max(pause.start - moment, timedelta(0))
            moment = max(moment, pause.end)
        return moment + remaining


def _dates(values: Iterable[date | str]) -> Iterable[date]:
    for value in values:
        yield value if isinstance(value, date) else date.fromisoformat(value)


def _aware(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"pause time {value!r} needs a UTC offset")
    return moment
