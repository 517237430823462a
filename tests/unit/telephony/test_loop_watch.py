"""The loop's watch: a blocked loop shows as lag, a collection as a pause, and the stall
probe names the code that held the loop."""
import asyncio
import gc
import logging
import time

from prometheus_client import CollectorRegistry

from telephony.loop_watch import LoopWatch, StallProbe


def _count(registry: CollectorRegistry, name: str, labels: dict | None = None) -> float:
    return registry.get_sample_value(f"{name}_count", labels or {}) or 0.0


def _over(registry: CollectorRegistry, name: str, seconds: float) -> float:
    """How many observations were above `seconds` (a bucket bound)."""
    total = _count(registry, name)
    within = registry.get_sample_value(f"{name}_bucket", {"le": str(seconds)}) or 0.0
    return total - within


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)   # what a slow handler does: nothing else runs meanwhile


async def _watching(watch: LoopWatch, body) -> None:
    task = asyncio.create_task(watch.run())
    try:
        await body()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_held_loop_shows_as_lag_at_least_as_long_as_the_hold():
    registry = CollectorRegistry()
    watch = LoopWatch(registry, period_s=0.01)

    async def body():
        await asyncio.sleep(0.05)   # a few wake-ups on time
        _hold_the_loop(0.12)
        await asyncio.sleep(0.05)
    await _watching(watch, body)
    assert _count(registry, "hotline_loop_lag_seconds") >= 2
    # the sleeper due during the hold woke at least 0.12 - 0.01 late
    assert _over(registry, "hotline_loop_lag_seconds", 0.1) >= 1


async def test_each_collection_is_timed_by_generation_and_the_hook_leaves_with_the_watch():
    registry = CollectorRegistry()
    watch = LoopWatch(registry, period_s=0.01)

    async def body():
        await asyncio.sleep(0)   # the watch starts and hooks the collector
        gc.collect()
    await _watching(watch, body)
    assert _count(registry, "hotline_gc_pause_seconds", {"generation": "2"}) >= 1
    assert watch._on_gc not in gc.callbacks


async def test_the_stall_probe_logs_the_stall_and_the_code_that_held_the_loop(caplog):
    registry = CollectorRegistry()
    watch = LoopWatch(registry, period_s=0.01)
    probe = StallProbe(watch, threshold_s=0.02, every_s=0.002)

    async def body():
        await asyncio.sleep(0.03)
        _hold_the_loop(0.2)
        await asyncio.sleep(0.05)   # the sleeper wakes: the stall has ended
    with caplog.at_level(logging.WARNING, logger="hotline.loop"):
        probe.start()
        try:
            await _watching(watch, body)
        finally:
            probe.stop()
    stalls = [r.getMessage() for r in caplog.records if "loop stalled" in r.getMessage()]
    assert stalls, caplog.text
    assert any("_hold_the_loop" in stall for stall in stalls)
