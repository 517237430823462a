"""Service levels at /metrics: the current and the previous hour of every site, read from
the call log every few seconds in the background (a scrape never waits on the database).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.call_log.levels import ServiceLevel, hour_of

log = logging.getLogger(__name__)

Levels = Callable[[Sequence[str], datetime, datetime], Awaitable[list[ServiceLevel]]]
GAUGES = (
    ("offered", "Citizen calls arrived in the hour and ended"),
    ("answer_rate", "Answered / offered (接通率)"),
    ("within_15s_rate", "Answered within 15 s / offered (NENA: 90%)"),
    ("within_20s_rate", "Answered within 20 s / offered (NENA: 95%)"),
    ("abandonment_rate", "Unanswered (abandoned or callback) / offered"),
    ("average_wait_s", "Average wait until answer or abandonment, seconds"),
    ("p90_wait_s", "90th percentile wait (nearest rank), seconds"),
    ("average_handling_s", "Average handling time, answer to end, seconds"),
)


class ServiceLevelWatch(Collector):
    def __init__(self, sites: Sequence[str], levels: Callable[[], Levels | None],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 interval: float = 10.0):
        self._sites = tuple(sites)
        self._levels = levels
        self._clock = clock
        self._interval = interval
        self.latest: list[tuple[str, ServiceLevel]] = []

    async def refresh(self) -> None:
        levels = self._levels()
        if levels is None:
            return   # the database is not up yet
        current = hour_of(self._clock())
        rows = await levels(self._sites, current - timedelta(hours=1),
                            current + timedelta(hours=1))
        self.latest = [("previous" if row.hour != current.isoformat() else "current", row)
                       for row in rows]

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - the database away: keep the last figures
                log.warning("service levels not refreshed: %r", exc)
            await asyncio.sleep(self._interval)

    def collect(self):
        families = {name: GaugeMetricFamily(f"hotline_service_level_{name}", help_,
                                            labels=["site", "hour"])
                    for name, help_ in GAUGES}
        for which, row in self.latest:
            for name, family in families.items():
                value = getattr(row, name)
                if value is not None:
                    family.add_metric([row.site, which], float(value))
        yield from families.values()
