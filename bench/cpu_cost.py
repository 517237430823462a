"""CPU per new call (issue 17): what each process spent on one step's calls.

A step's calls cost CPU while they are placed and handed over, while they are held, when
they are hung up, and afterwards, while the order consumer applies their events. So the
account runs from the first INVITE until the lab is idle again and the consumer has
caught up, and what each process spends when nothing happens (measured before the first
step) is taken off:

    ms per call = (CPU seconds at the end - at the start - idle rate x seconds) / calls

Repetitions of the same step give the median, with the lowest and highest, and the
report says how many there were.
"""
from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

CONSUMER = "order consumer"   # the controller's child process, counted with it as well
# what is not a process of the call path, or is counted inside another row
NOT_COUNTED = frozenset({"tcpdump", "not this bench", "whole machine", CONSUMER})


def rates(first: tuple[float, Mapping[str, float]], last: tuple[float, Mapping[str, float]]
          ) -> dict[str, float]:
    """CPU seconds per second of each process between two samples."""
    (t0, a), (t1, b) = first, last
    span = max(t1 - t0, 1e-9)
    return {k: max(0.0, (b[k] - a.get(k, 0.0)) / span) for k in b}


def per_call_ms(first: tuple[float, Mapping[str, float]], last: tuple[float, Mapping[str, float]],
                idle: Mapping[str, float], calls: int) -> dict[str, float]:
    """ms of CPU per call of each process, net of its idle rate (never below zero)."""
    (t0, a), (t1, b) = first, last
    if calls <= 0:
        return {}
    return {k: max(0.0, b[k] - a.get(k, 0.0) - idle.get(k, 0.0) * (t1 - t0)) * 1000 / calls
            for k in b}


def settled(samples: Sequence[tuple[float, Mapping[str, float]]], idle: Mapping[str, float],
            key: str, window_s: float = 2.0, margin: float = 0.03) -> bool:
    """Has `key` spent no more than its idle rate (+ margin, in cores) over the last
    `window_s`? The consumer has then applied the step's events."""
    if len(samples) < 2 or samples[-1][0] - samples[0][0] < window_s:
        return False
    end = samples[-1]
    start = next(s for s in reversed(samples) if end[0] - s[0] >= window_s)
    return rates(start, end).get(key, 0.0) <= idle.get(key, 0.0) + margin


def spread(values: Iterable[float]) -> tuple[float, float, float] | None:
    """(median, lowest, highest), or None for no values."""
    got = sorted(values)
    return (statistics.median(got), got[0], got[-1]) if got else None


def _cell(values: Sequence[float]) -> str:
    s = spread(values)
    if s is None:
        return "–"
    median, lo, hi = s
    return f"{median:.2f}" if len(values) == 1 else f"{median:.2f} ({lo:.2f}–{hi:.2f})"


def cost_table(runs: Mapping[str, Sequence[Mapping[str, float]]], order: Sequence[str],
               paths: tuple[str, str] = ("controller", "baseline"),
               limit: float = 1.6) -> tuple[str, dict[str, float | None]]:
    """Markdown: ms per call of each process on each path (median, lowest–highest of the
    repetitions), the total, and the ratio of the totals' medians. Also the figures."""
    ours, bare = (runs.get(p, ()) for p in paths)
    keys = [k for k in order if k not in NOT_COUNTED and any(k in r for r in (*ours, *bare))]
    rows = []
    for k in keys:
        rows.append(f"| {k} | {_cell([r[k] for r in ours if k in r])} | "
                    f"{_cell([r[k] for r in bare if k in r])} |")
        if k == "controller":
            rows.append(f"| … of which the {CONSUMER} | "
                        f"{_cell([r[CONSUMER] for r in ours if CONSUMER in r])} | – |")
    total = {p: [sum(r.get(k, 0.0) for k in keys) for r in runs.get(p, ())] for p in paths}
    rows.append(f"| **total** | **{_cell(total[paths[0]])}** | **{_cell(total[paths[1]])}** |")
    t_ours, t_bare = spread(total[paths[0]]), spread(total[paths[1]])
    ratio = t_ours[0] / t_bare[0] if t_ours and t_bare and t_bare[0] else None
    head = (f"| process | {paths[0]} path, ms/call | {paths[1]}, ms/call |\n|---|---|---|\n")
    verdict = ("–" if ratio is None else
               f"{ratio:.2f}× the bare dialplan (target ≤ {limit:g}×: "
               + ("yes" if ratio <= limit else "**no**") + ")")
    return (head + "\n".join(rows) + f"\n\nTotal CPU per new call: {verdict}.\n",
            {"ratio": ratio, "ours": t_ours[0] if t_ours else None,
             "bare": t_bare[0] if t_bare else None})


def idle_rates(sample: Callable[[], tuple[float, dict[str, float]]], wait: Callable[[float], None],
               seconds: float = 10.0, settle: str | None = None, quiet: float = 0.02,
               tries: int = 12, say: Callable[[str], None] = lambda line: None
               ) -> dict[str, float]:
    """Each process's CPU seconds per second while the lab holds no call. With `settle`,
    windows are measured until that process is quiet (below `quiet` cores): a consumer
    still applying an earlier run's events is not idle. It once applied such a backlog at
    a steady 7 % of a core for minutes (nice 19, lingering between reads); taken as its
    idle rate, that was subtracted from every step and hid about 2 ms a call. If it never
    goes quiet, the quietest window is used, and `say` is told."""
    windows: list[dict[str, float]] = []
    for _ in range(max(1, tries if settle else 1)):
        first = sample()
        wait(seconds)
        windows.append(rates(first, sample()))
        if settle is None or windows[-1].get(settle, 0.0) <= quiet:
            return windows[-1]
    quietest = min(windows, key=lambda w: w.get(settle or "", 0.0))
    say(f"{settle} never went below {quiet:g} cores in {len(windows)} windows of {seconds:g} s;"
        f" its quietest window ({quietest.get(settle or '', 0.0):.3f} cores) is taken as idle")
    return quietest


# ---- /proc sampling -----------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (None once it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 once it is gone)."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf(
        "SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid`'s children that ended (cutime+cstime: a consumer that was
    restarted) and of its live ones (the order consumer `hotline orders consume`)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    waited = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return waited + sum(cpu_seconds(c) for c in children(pid))


def cpu_snapshot(pids: dict[str, int]) -> tuple[float, dict[str, float]]:
    """(now, CPU seconds of each process). The controller's share counts the consumer's,
    which it runs as a child process; the consumer's alone is under CONSUMER too."""
    out = {}
    for k, p in list(pids.items()):
        if k == "controller":
            kids = children_cpu_seconds(p)
            out[k], out[CONSUMER] = cpu_seconds(p) + kids, kids
        else:
            out[k] = cpu_seconds(p)
    return time.monotonic(), out


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[1].isdigit() and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_quiet(pid: int, say: Callable[[str], None], quiet: float = 0.05,
               window_s: float = 3.0, max_s: float = 180.0) -> float:
    """Wait until `pid` and its children (the controller and its order consumer) use less
    than `quiet` cores; returns the seconds waited. A consumer still applying an earlier
    run's events (it runs at nice 19 and lingers between reads) competes with the first
    measured phase (one transfer run's first controller phase had twice the p50 of the
    next two, likely for that reason)."""
    started = time.monotonic()
    watched = {"controller": pid}   # cpu_snapshot counts its children with it
    while time.monotonic() - started < max_s:
        first = cpu_snapshot(watched)
        time.sleep(window_s)
        if rates(first, cpu_snapshot(watched))["controller"] < quiet:
            return time.monotonic() - started
    say(f"controller and consumer still above {quiet:g} cores after {max_s:g} s; going on")
    return time.monotonic() - started
