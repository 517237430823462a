"""Routing suggester benchmark: start-up load time and per-suggestion latency.

Run from the repository root:  python bench/routing_bench.py [--rounds 20] [--loads 5]
Writes bench/results/routing.md with the method and the figures.
"""
from __future__ import annotations

import argparse
import json
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
from services.routing.crossval import CALIBRATION_PATH
from services.routing.dataset import HELDOUT_PATH, read_examples
from services.routing.evaluation import percentiles

BLIND_DIR = ROOT / "bench" / "results" / "blind"

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


def blind_section() -> str:
    """The blind sets' figures, from the `hotline route --eval --json` output kept for each
    set when it was scored (the sets themselves were never in the repository before scoring)."""
    rows = []
    for path in sorted(BLIND_DIR.glob("round*_set_*.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        rows.append(
            f"| {r['round']} | {r['set'].upper()} | {r['scored_commit']} | {r['examples']} | "
            f"{r['accuracy']:.3f} | {r['macro_f1']:.3f} | "
            f"{r['emergency_recall']:.3f} ({round(r['emergency_recall'] * r['emergency_examples'])}"
            f"/{r['emergency_examples']}) | {r['emergency_precision']:.3f} | "
            f"{r['emergencies_sent_away']} ({r['emergencies_sent_away_confident']}) | "
            f"{r['calibration_error']:.3f} | {r['latency_ms']['p99']:.2f} |")
    return f"""
## Accuracy on blind sets (issue 12)

{BLIND_TEXT}

| round | set | model (commit) | n | top-1 | macro-F1 | emergency recall | emergency precision | emergencies to a non-emergency line (conf ≥ 0.5) | ECE | p99 ms |
|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"


def crossval_section() -> str:
    raw = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    cv = raw["crossval"]
    return f"""
## Leave-one-writer-out cross-validation on the training split

`hotline route --crossval` (from `{CALIBRATION_PATH.relative_to(ROOT)}`): {cv['examples']}
examples, each scored by a model that never saw its writer. Top-1 {cv['accuracy']:.3f},
emergency recall {cv['emergency_recall']:.3f}, {cv['emergencies_sent_away']} emergencies sent
to a non-emergency line; expected calibration error {cv['ece_raw']:.3f} before calibration and
{cv['ece_calibrated']:.3f} after (fitted and measured on the same out-of-writer predictions,
so the blind sets' ECE above is the honest one). The emergency thresholds in
`services/routing/suggester.py:Tuning` were chosen here, never on a blind set.
"""


BLIND_TEXT = """\
How the sets were written: each by its own helper session, given only the seeds
(`../shared/seeds/`), a one-page labelling brief (targets, categories, what counts as an
emergency) and a style brief; never the code, the training data or another set. Each set
covers every failure kind of issue 12 (violence told by acts, medical emergencies told by
symptoms, danger in progress without a crime, confinement, a thief still there and fights,
fire after a gas smell, vessels in distress, emergencies buried in long stories, negation
and tense traps, speech-recognition errors). Styles: A plain caller speech; B colloquial,
long and ASR-style; C plain callers, agent summaries and very short utterances; D ASR
transcripts of rambling dialect calls. Each set was scored once, with
`hotline route --eval FILE --json`, by the model of the commit named; its figures were
written down before anything was learned from it.

Round 1 scored A and B (model 35fc473). Their mistakes were then read, the sets joined the
training data, and the cues were corrected (63a4e06). Round 2 scored two fresh sets, C and
D, written after round 1 by writers who had seen nothing of it. C and D then joined the
training data in turn, their mistakes were read, cues were corrected again, and the model's
emergency threshold was lowered from 0.35 to 0.3 on leave-one-writer-out figures (0d4ef34).
Round 3 scored two more fresh sets, E and F (0d4ef34).

Round 4 (7df1dbe): E and F joined the training data after round 3; their mistakes were read
as classes (a lift with nobody inside, a button that does not respond, a wreck of years,
chimney smoke, a threat not yet happened, 着 inside 干着活, people stranded by flood water,
a group caught dismantling), the cues were corrected, and the emergency threshold stayed at
0.3 (leave-one-writer-out: 0.35 would have lost 2 of its emergencies for 59 fewer false
alarms). Two fresh sets were scored: G (260: half plain speech, half ASR of long calls) and
H (240: a third agents' summaries, a third plain speech, a third ASR with dialect).
Round 5 (fd3555b): G and H joined the training data; their mistakes were read as classes
(poisoning and overdose, falls from height, collapses onto people, threats to jump from a
crane, a drifting boat, corrections "不是…是…", stories told afterwards, worries "怕它…",
a homophone window that splits the next word "是|火车"), and two fresh sets were scored:
I (250) and J (240: callers of many backgrounds, more than half ASR). The shipped model is
the one round 5 measured; I and J have not joined the training data.

Rounds 4 and 5 were scored while seven other sessions shared the 2-core machine, so their
p99 column is not the latency figure (the bench's own, below, is).

The trade-off the rounds show: lowering the threshold for recall costs top-1 accuracy on
non-emergency lines (false alarms go to 110/119/120). At 0.3, emergency recall was 1.000
and 0.988 with no confident emergency sent to a non-emergency line, and top-1 0.908 and
0.913, below the 0.92 target; at 0.35 (round 2) top-1 was 0.929 and 0.912. Rounds 4 and 5
met top-1 on G and H (0.931, 0.929) but not on I and J (0.912, 0.883); emergency recall
stayed at 0.98–0.99 on every fresh set, never 1.00, while no emergency went to a
non-emergency line with confidence ≥ 0.5 in rounds 4 (G) and 5 (I, J); in H two did.
The misses left are single cases of a kind the cues had not yet met (a person locked in a
cold store, a severed wrist told as "喷射状出血", a canoeist swept downstream, an electric
shock told as "被电打了", a rudder that will not turn): the cue lexicon grows by kinds, and
each fresh set still finds one or two new ones.

Before this work (issue 12, measured from outside on two other blind sets of 260 and 240
utterances): top-1 0.81 and 0.65, macro-F1 0.78 and 0.66, emergency recall 0.78 (66/84)
and 0.75 (66/87), with wrong answers at confidence above 0.9."""


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
    report += blind_section() + crossval_section()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
