"""The controller's one loop, watched.

Every call's events and commands share one asyncio loop, so a key press waits behind
whatever the loop is busy with. Three views of that wait:

- `hotline_loop_lag_seconds`: how late a short sleep wakes. This is the backlog a
  DTMF event or a hang-up sits behind, under the load of the moment.
- `hotline_gc_pause_seconds`: how long each garbage collection held the process.
- On demand (HOTLINE_STALL_PROBE_MS), a thread that notes what the loop was running
  when it stalled for longer than that, and logs it when the stall ends. It is off by
  default: it wakes every few milliseconds and takes the interpreter lock to look.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger("hotline.loop")

PERIOD_S = 0.05   # the sleeper's period: 20 wake-ups a second cost nothing measurable
LATE_S = 0.1      # a wake-up this late is logged (at most once a second), with the GC's share
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class LoopWatch:
    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.perf_counter,
                 period_s: float = PERIOD_S):
        self.clock = clock
        self.period_s = period_s
        self.lag = Histogram("hotline_loop_lag_seconds",
                             "How late a short sleep on the controller's loop wakes: the "
                             "backlog an ARI event waits behind", registry=registry,
                             buckets=BUCKETS)
        self.gc_pause = Histogram("hotline_gc_pause_seconds",
                                  "Garbage collections in the controller's process, by "
                                  "generation", ["generation"], registry=registry,
                                  buckets=BUCKETS)
        self._gc_started = 0.0
        self._gc_between = 0.0   # the collector's time since the sleeper last woke
        self._logged = float("-inf")
        self.beat = clock()   # the sleeper's last wake-up, for the stall probe

    async def run(self) -> None:
        gc.callbacks.append(self._on_gc)
        try:
            while True:
                asleep = self.clock()
                await asyncio.sleep(self.period_s)
                self.beat = self.clock()
                late = max(0.0, self.beat - asleep - self.period_s)
                self.lag.observe(late)
                if late > LATE_S and self.beat - self._logged >= 1.0:
                    self._logged = self.beat
                    log.warning("the loop woke %.0f ms late (garbage collection: %.0f ms of it)",
                                late * 1000, self._gc_between * 1000)
                self._gc_between = 0.0
        finally:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = self.clock()
        else:
            pause = self.clock() - self._gc_started
            self._gc_between += pause
            self.gc_pause.labels(str(info["generation"])).observe(pause)


class StallProbe:
    """A daemon thread that looks at the loop's thread while the sleeper is overdue by
    more than `threshold_s`, and logs the stall's length and its most seen stack.

    A diagnostic: its own wake-ups and looks cost the loop a little. A look needs the
    interpreter lock, so a stall that holds the lock throughout (the collector, one long
    C call) is never looked at; the watch's own late wake-up warning still reports it."""

    def __init__(self, watch: LoopWatch, threshold_s: float, every_s: float = 0.005,
                 depth: int = 8):
        self._watch = watch
        self._threshold = threshold_s
        self._every = every_s
        self._depth = depth
        self._loop_thread = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._look, name="stall-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.warning("stall probe on: stacks of loop stalls over %.0f ms are logged",
                    self._threshold * 1000)

    def stop(self) -> None:
        self._stop.set()

    def _look(self) -> None:
        stacks: Counter[str] = Counter()
        started = None
        watch = self._watch
        overdue_after = watch.period_s + self._threshold
        while not self._stop.wait(self._every):
            # the beat read once: the loop may move it between two reads, and a stall
            # would then start at its own end (a negative length)
            beat = watch.beat
            if watch.clock() - beat > overdue_after:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    stacks[self._stack(frame)] += 1
                started = started if started is not None else beat
            elif started is not None:
                stalled = beat - started - watch.period_s
                top = stacks.most_common(1)
                log.warning("loop stalled %.0f ms (%d looks); most seen:\n%s",
                            stalled * 1000, sum(stacks.values()),
                            top[0][0] if top else "(no look)")
                stacks.clear()
                started = None

    def _stack(self, frame) -> str:
        summary = traceback.extract_stack(frame)[-self._depth:]
        return "".join(f"  {s.filename.rsplit('/', 2)[-1]}:{s.lineno} {s.name}\n"
                       for s in summary)
