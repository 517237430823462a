"""The operations-per-call account of the capacity bench (bench/op_counts.py): counters
read from a real /metrics page, growth per call, and the sums by class."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bench.op_counts import log_lines, metric_counts, per_call, redis_counts, totals
from telephony.metrics import CallMetrics


def test_counts_come_from_the_controllers_own_metrics_page():
    registry = CollectorRegistry()
    metrics = CallMetrics(registry)
    for _ in range(3):
        metrics.ari_request.labels("12345", "POST /channels").observe(0.002)
    metrics.ari_request.labels("110", "DELETE /bridges").observe(0.004)
    for stage in ("socket", "queue"):
        metrics.ari_event_lag.labels("12345", stage).observe(0.001)
    metrics.order_events.labels("opened").inc(2)
    counts = metric_counts(generate_latest(registry).decode())
    assert counts == {"ari 12345 POST /channels": 3.0, "ari 110 DELETE /bridges": 1.0,
                      "event 12345": 1.0, "order opened": 2.0}


def test_growth_per_call_leaves_out_what_did_not_move_and_the_snapshots_own_info():
    before = {"ari 12345 POST /channels": 10.0, "redis info": 4.0, "redis xadd": 5.0,
              "log lines": 100.0}
    after = {"ari 12345 POST /channels": 410.0, "redis info": 5.0, "redis xadd": 805.0,
             "log lines": 100.0, "event 12345": 1200.0}
    rates = per_call(before, after, 400)
    assert rates == {"ari 12345 POST /channels": 1.0, "event 12345": 3.0, "redis xadd": 2.0}
    assert per_call(before, after, 0) == {}
    assert totals(rates) == {"ARI requests": 1.0, "ARI events": 3.0, "Redis commands": 2.0,
                             "order events": 0.0, "log lines": 0.0}


def test_redis_commandstats_and_log_lines(tmp_path):
    info = {"cmdstat_xadd": {"calls": 7, "usec": 70}, "cmdstat_hset": {"calls": 2, "usec": 9}}
    assert redis_counts(info) == {"redis xadd": 7.0, "redis hset": 2.0}
    log = tmp_path / "controller.log"
    log.write_text("a\nb\nc\n")
    assert log_lines(log) == 3.0
    assert log_lines(tmp_path / "missing.log") == pytest.approx(0.0)
