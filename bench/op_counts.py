"""What a call asks of the rest of the system: ARI requests by kind, ARI events
received, Redis commands by name, order events and controller log lines, per call.

CPU per call says how much a call costs; these counts say where to look for the
cost (issue 17). Each is the difference between a snapshot taken before a bench
step and one taken after it, divided by the step's calls. A snapshot reads the
controller's own /metrics (counters since its start), Redis's INFO commandstats
and the length of the controller's log, so taking one costs the lab a request
each and changes nothing it counts but one Redis INFO.
"""
from __future__ import annotations

import urllib.request
from pathlib import Path
from urllib.parse import quote, urlparse

from prometheus_client.parser import text_string_to_metric_families

# the families read from /metrics, and the label that names what was counted
ARI_REQUESTS = "hotline_ari_request_seconds"
ARI_EVENTS = "hotline_ari_event_lag_seconds"
ORDER_EVENTS = "hotline_order_events"


def metric_counts(text: str) -> dict[str, float]:
    """Counts from a /metrics page: 'ari <site> <operation>', 'event <site>',
    'order <kind>'. Histograms give their _count; the event lag is counted once,
    at its 'queue' stage (read to handled), which every event passes."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if family.name == ARI_REQUESTS and sample.name.endswith("_count"):
                key = f"ari {labels.get('site', '?')} {labels.get('operation', '?')}"
            elif (family.name == ARI_EVENTS and sample.name.endswith("_count")
                  and labels.get("stage") == "queue"):
                key = f"event {labels.get('site', '?')}"
            elif family.name == ORDER_EVENTS and sample.name.endswith("_total"):
                key = f"order {labels.get('kind', '?')}"
            else:
                continue
            counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def redis_counts(info: dict) -> dict[str, float]:
    """'redis <command>' -> calls, from redis-py's parsed INFO commandstats."""
    counts = {}
    for key, stats in info.items():
        name = key.removeprefix("cmdstat_")
        calls = stats.get("calls", 0) if isinstance(stats, dict) else 0
        counts[f"redis {name}"] = float(calls)
    return counts


def log_lines(path: Path) -> float:
    try:
        with path.open("rb") as f:
            return float(sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")))
    except OSError:
        return 0.0


def stats_redis_url(redis_url: str | None, lab) -> str | None:
    """`redis_url`'s Redis as the lab Sentinels' service user (`lab.redis_ha`), the one lab
    account allowed INFO (the controller's user is not: `-@dangerous`); `redis_url`
    itself when the lab has no such account."""
    if not redis_url:
        return None
    try:
        ha = lab.redis_ha
    except Exception:   # noqa: BLE001 - no HA accounts in this lab: count what we may
        return redis_url
    url = urlparse(redis_url)
    netloc = f"{quote(ha.sentinel_user, safe='')}:{quote(ha.password, safe='')}@{url.hostname}"
    return url._replace(netloc=f"{netloc}:{url.port or 6379}").geturl()


class OpCounter:
    """Snapshots of one lab's counters; `per_call` turns two of them into rates."""

    def __init__(self, metrics_url: str, redis_url: str | None, controller_log: Path):
        self.metrics_url, self.controller_log = metrics_url, controller_log
        self._redis = None
        if redis_url:
            from redis import Redis
            self._redis = Redis.from_url(redis_url, socket_timeout=5)

    def snapshot(self) -> dict[str, float]:
        counts: dict[str, float] = {}
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
                counts.update(metric_counts(resp.read().decode()))
        except OSError:
            pass
        if self._redis is not None:
            try:
                counts.update(redis_counts(self._redis.info("commandstats")))
            except Exception:   # noqa: BLE001 - a count missing is shown as missing
                pass
        counts["log lines"] = log_lines(self.controller_log)
        return counts


def per_call(before: dict[str, float], after: dict[str, float], calls: int) -> dict[str, float]:
    """Each counter's growth over the step, per call; counters that did not move are left
    out, and the INFO that took the second snapshot is not counted."""
    out = {}
    for key, value in after.items():
        grew = value - before.get(key, 0.0) - (1.0 if key == "redis info" else 0.0)
        if grew > 0 and calls:
            out[key] = grew / calls
    return dict(sorted(out.items()))


def totals(rates: dict[str, float]) -> dict[str, float]:
    """Sums by class: ARI requests, ARI events, Redis commands, order events, log lines."""
    sums = {"ARI requests": 0.0, "ARI events": 0.0, "Redis commands": 0.0,
            "order events": 0.0, "log lines": 0.0}
    for key, value in rates.items():
        kind = key.split(" ", 1)[0]
        target = {"ari": "ARI requests", "event": "ARI events", "redis": "Redis commands",
                  "order": "order events", "log": "log lines"}.get(kind)
        if target:
            sums[target] += value
    return sums
