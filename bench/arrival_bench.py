"""CPU of the routing suggestion a call gets when it arrives (issue 17).

Run from the repository root:  python bench/arrival_bench.py [--calls 2000] [--reps 3]
Writes bench/results/arrival.md with the method and the figures.

Baseline and change in the same run: "suggester per call" asks the suggester at every
arrival (what `RoutingService.on_arrival` did before), "kept per site and IVR choice" is
`RoutingService.on_arrival` now. Both see the same mix of sites and IVR choices, each
call ends (`on_hangup`) as in the controller, and CPU is `time.process_time()` of this
process (one thread), so other load on the machine stretches wall time, not these figures.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.routing import CallContext, RoutingService, Suggester  # noqa: E402

SITES = ("12345", "110")
IVR_CHOICES = (None, None, None, "police", "water_gas_heat", "power", "medical", "fire")


class PerCall:
    """The baseline: what on_arrival did before, a suggestion worked out for every call."""

    def __init__(self, suggester: Suggester):
        self._suggester = suggester

    def on_arrival(self, call_id: str, context: CallContext):
        return self._suggester.suggest("", context)

    def on_hangup(self, call_id: str) -> None:
        pass


def cpu_per_call_us(service, calls: int) -> float:
    contexts = [CallContext(site=SITES[i % len(SITES)],
                            ivr_choice=IVR_CHOICES[i % len(IVR_CHOICES)]) for i in range(calls)]
    started = time.process_time()
    for i, context in enumerate(contexts):
        service.on_arrival(f"call-{i}", context)
        service.on_hangup(f"call-{i}")
    return (time.process_time() - started) / calls * 1e6


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.strip()
    return out.stdout.strip() + ("+changes" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "arrival.md")
    args = parser.parse_args()

    suggester = Suggester.load()
    suggester.suggest("", CallContext())   # warm-up
    rows = {}
    for name, make in (("suggester per call (before)", lambda: PerCall(suggester)),
                       ("kept per site and IVR choice (now)", lambda: RoutingService(suggester))):
        runs = [cpu_per_call_us(make(), args.calls) for _ in range(args.reps)]
        rows[name] = (statistics.median(runs), min(runs), max(runs))
    before, now = (value[0] for value in rows.values())
    table = "\n".join(f"| {name} | {median:.1f} | {low:.1f}–{high:.1f} |"
                      for name, (median, low, high) in rows.items())
    args.out.write_text(f"""# Arrival suggestion: CPU per new call

`python bench/arrival_bench.py --calls {args.calls} --reps {args.reps}`, commit {commit()},
{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, Python {sys.version.split()[0]}.

## Method

{__doc__.split("Baseline", 1)[1].join(("Baseline", "")).strip()}

Each figure is the median of {args.reps} repetitions of {args.calls} calls, with the
smallest and largest repetition.

## Figures (µs of CPU per arriving call)

| arrival suggestion | median | spread |
|---|---|---|
{table}

Ratio: {now / before:.3f} of the baseline ({before - now:.0f} µs saved per call).
""", encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
