"""Prometheus metrics at /metrics: per-site load, seats by state, transfers by
outcome and their latency, queue waits, overflow and the order outbox.

Gauges are read from the controller at scrape time (nothing to drift);
latencies are histograms fed by call notices.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from telephony.calls.controller import CallController
from telephony.calls.model import Call, Notice
from telephony.calls.ports import CallObserver


class CallMetrics(CallObserver):
    """Counters and histograms fed by what calls do."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._started: dict[str, float] = {}
        self._arrived: dict[str, float] = {}
        self.transfers = Counter("hotline_transfers", "Transfers by mode and outcome",
                                 ["site", "mode", "outcome"], registry=registry)
        self.transfer_latency = Histogram(
            "hotline_transfer_seconds", "From the key press to the target answering",
            ["site", "mode"], registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30))
        self.queue_wait = Histogram(
            "hotline_queue_wait_seconds", "From arrival to a local or remote seat answering",
            ["site"], registry=registry, buckets=(1, 5, 10, 15, 20, 30, 60, 120, 300))
        self.keys_refused = Counter("hotline_keys_refused", "Feature keys refused in their state",
                                    ["site"], registry=registry)
        self.ari_event_lag = Histogram(
            "hotline_ari_event_lag_seconds",
            "ARI events: Asterisk's timestamp to our read (socket), read to handled (queue)",
            ["site", "stage"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.ari_request = Histogram(
            "hotline_ari_request_seconds", "ARI requests: round trip, by kind (method and "
            "resource, ids left out)", ["site", "operation"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.order_events = Counter("hotline_order_events", "Order events handed to the outbox",
                                    ["kind"], registry=registry)

    def order_event_published(self, event) -> None:
        self.order_events.labels(event.kind).inc()

    def call_opened(self, call: Call) -> None:
        self._arrived[call.id] = self._clock()

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        now = self._clock()
        if kind is Notice.SEAT_ANSWERED and call.id in self._arrived:
            self.queue_wait.labels(call.site).observe(now - self._arrived.pop(call.id))
        elif kind is Notice.TRANSFER_STARTED:
            self._started[call.id] = now
        elif kind in (Notice.TRANSFER_COMPLETED, Notice.THREE_WAY_JOINED):
            mode = detail.get("mode") or "three_way"
            self.transfers.labels(call.site, mode, "completed").inc()
            if call.id in self._started:
                self.transfer_latency.labels(call.site, mode).observe(now - self._started.pop(call.id))
        elif kind in (Notice.TRANSFER_FAILED, Notice.TRANSFER_CANCELLED):
            self._started.pop(call.id, None)
            outcome = detail.get("reason", "cancelled") if kind is Notice.TRANSFER_FAILED else "cancelled"
            self.transfers.labels(call.site, detail.get("mode") or "unknown", outcome).inc()
        elif kind is Notice.KEY_REFUSED:
            self.keys_refused.labels(call.site).inc()
        elif kind is Notice.CALL_ENDED:
            self._started.pop(call.id, None)
            self._arrived.pop(call.id, None)


class ControllerCollector(Collector):
    """Reads the controller's current state at each scrape."""

    def __init__(self, calls: CallController, outbox_state: Callable[[], dict]):
        self._calls = calls
        self._outbox_state = outbox_state

    def collect(self):
        calls = self._calls
        waiting = GaugeMetricFamily("hotline_waiting_callers", "Callers waiting for a seat",
                                    labels=["site"])
        longest = GaugeMetricFamily("hotline_longest_wait_seconds", "Longest current wait",
                                    labels=["site"])
        seats = GaugeMetricFamily("hotline_seats", "Seats by state", labels=["site", "state"])
        live = GaugeMetricFamily("hotline_calls", "Live calls by state", labels=["state"])
        overflow = GaugeMetricFamily("hotline_overflow_active", "1 while calls overflow",
                                     labels=["site", "to"])
        totals = {name: CounterMetricFamily(f"hotline_calls_{name}", help_, labels=["site"])
                  for name, help_ in (("arrived", "Citizen calls arrived"),
                                      ("answered", "Calls answered by a seat"),
                                      ("answered_in_target", "Answered within 15 s"),
                                      ("abandoned", "Callers who hung up while waiting"),
                                      ("overflowed", "Calls rung at a remote seat"))}
        for site, counters in calls.counters.items():
            load = calls.seats.load(site)
            waiting.add_metric([site], load.waiting)
            longest.add_metric([site], load.longest_wait_s)
            for name, family in totals.items():
                family.add_metric([site], getattr(counters, name))
        by_state: dict[tuple[str, str], int] = {}
        for site, states in calls.seats.seat_states().items():
            for state in states.values():
                by_state[(site, state)] = by_state.get((site, state), 0) + 1
        for (site, state), count in sorted(by_state.items()):
            seats.add_metric([site, state], count)
        for state, count in calls.state_counts().items():
            live.add_metric([state], count)
        for site, status in calls.seats.overflow_status().items():
            overflow.add_metric([site, status["to"]], 1 if status["active"] else 0)
        outbox = self._outbox_state()
        depth = GaugeMetricFamily("hotline_order_events_pending",
                                  "Order events not yet in the outbox", value=outbox["pending"])
        spooling = GaugeMetricFamily("hotline_order_outbox_spooling",
                                     "1 while order events go to the local spool",
                                     value=1 if outbox["spooling"] else 0)
        yield from (waiting, longest, seats, live, overflow, *totals.values(), depth, spooling)
