"""Routing suggester benchmark: start-up load time and per-suggestion latency.

Run from the repository root:  python bench/routing_bench.py [--rounds 20] [--loads 5]
Writes bench/results/routing.md with the method and the figures.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.routing import Suggester
from services.routing.dataset import HELDOUT_PATH, read_examples
from services.routing.evaluation import percentiles

# Cold start in a fresh interpreter: imports, list, jieba dictionary, artifact, first cut.
_LOAD = """
import time
started = time.perf_counter()
from services.routing import Suggester
Suggester.load()
print(time.perf_counter() - started)
"""


def measure_loads(runs: int, env: dict[str, str] | None = None) -> list[float]:
    seconds = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _LOAD], cwd=ROOT, check=True,
                             capture_output=True, text=True, env=env).stdout
        seconds.append(float(out.strip().splitlines()[-1]))
    return seconds


def measure_cold_load() -> float:
    """First start on a machine: jieba finds no dictionary cache in an empty temp dir."""
    with tempfile.TemporaryDirectory() as empty:
        return measure_loads(1, {**os.environ, "TMPDIR": empty})[0]


def measure_latency(rounds: int) -> tuple[list[float], int]:
    suggester = Suggester.load()
    texts = [e.text for e in read_examples(HELDOUT_PATH)]
    for text in texts:  # warm-up: one pass, not timed
        suggester.suggest(text)
    timings = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            suggester.suggest(text)
            timings.append((time.perf_counter() - started) * 1000)
    return timings, len(texts)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "routing.md")
    args = parser.parse_args()

    loads = measure_loads(args.loads)
    cold = measure_cold_load()
    timings, n_texts = measure_latency(args.rounds)
    lat = percentiles(timings)
    report = f"""# Routing suggester benchmark

Run `python bench/routing_bench.py` from the repository root. The figures below come from
{time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu_model()}), Python
{platform.python_version()}.

## Method

- **Start-up load**: {args.loads} fresh interpreters each time `from services.routing import
  Suggester; Suggester.load()`: imports, the diversion list, the jieba dictionary (from jieba's
  cache file once it exists), the JSON model artifact and one warm-up suggestion.
- **Latency**: one process loads the suggester and suggests every held-out text once untimed
  (warm-up), then {args.rounds} timed rounds over the {n_texts} held-out texts
  ({len(timings)} suggestions), each timed alone with `time.perf_counter()`. No context is
  given, so this is text only; history linking adds one cosine per open order.

## Figures

| measure | value | target |
|---|---|---|
| start-up load, median of {args.loads} | {sorted(loads)[len(loads) // 2]:.2f} s | ≤ 2 s |
| start-up load, worst | {max(loads):.2f} s | |
| start-up load, empty jieba cache | {cold:.2f} s | ≤ 2 s |
| latency p50 | {lat['p50']:.2f} ms | |
| latency p95 | {lat['p95']:.2f} ms | |
| latency p99 | {lat['p99']:.2f} ms | ≤ 5 ms |
| latency max | {lat['max']:.2f} ms | |
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
