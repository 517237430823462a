"""Scores the suggester against a labelled file: the figures issue 5 asks for."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.routing.dataset import Example
from services.routing.model import TARGETS, Suggestion, is_emergency_line
from services.routing.suggester import Suggester


@dataclass(frozen=True)
class TargetScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EvalReport:
    examples: int
    accuracy: float
    macro_f1: float
    category_accuracy: float
    emergency_recall: float
    emergency_precision: float
    emergency_examples: int
    uncertain_rate: float
    accuracy_when_certain: float
    per_target: dict[str, TargetScore]
    confusion: dict[str, dict[str, int]]
    latency_ms: dict[str, float]
    calibration_error: float = 0.0          # expected calibration error, 10 equal-width bins
    emergencies_sent_away: int = 0          # gold emergencies suggested to a non-emergency line
    emergencies_sent_away_confident: int = 0  # ... with confidence >= 0.5
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "category_accuracy": round(self.category_accuracy, 4),
            "emergency_recall": round(self.emergency_recall, 4),
            "emergency_precision": round(self.emergency_precision, 4),
            "emergency_examples": self.emergency_examples,
            "uncertain_rate": round(self.uncertain_rate, 4),
            "accuracy_when_certain": round(self.accuracy_when_certain, 4),
            "per_target": {t: vars(s) for t, s in self.per_target.items()},
            "confusion": self.confusion,
            "latency_ms": self.latency_ms,
            "calibration_error": round(self.calibration_error, 4),
            "emergencies_sent_away": self.emergencies_sent_away,
            "emergencies_sent_away_confident": self.emergencies_sent_away_confident,
            "errors": self.errors,
        }


def evaluate(suggester: Suggester, examples: Sequence[Example]) -> EvalReport:
    """Top-1 target scores; a target the example accepts (122 for road traffic) counts as right."""
    tally = _Tally()
    for example in examples:
        if example.target is None:
            raise ValueError(f"example {example.id} has no gold target")
        started = time.perf_counter()
        suggestion = suggester.suggest(example.text)
        tally.timings.append((time.perf_counter() - started) * 1000)
        tally.add(example, example.target, suggestion)
    return tally.report(len(examples))


@dataclass
class _Tally:
    """The counts `evaluate` gathers, one example at a time."""

    gold: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    timings: list[float] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    confidences: list[tuple[float, bool]] = field(default_factory=list)
    categories_right: int = 0
    categories_total: int = 0
    emergency_hits: int = 0
    emergency_gold: int = 0
    emergency_predicted: int = 0
    uncertain: int = 0
    certain_right: int = 0
    sent_away: int = 0
    sent_away_confident: int = 0

    def add(self, example: Example, gold: str, suggestion: Suggestion) -> None:
        target = suggestion.target
        scored = gold if example.accepts(target) else target
        self.gold.append(gold)
        self.predicted.append(scored)
        self.confidences.append((suggestion.confidence, scored == gold))
        if example.emergency and not is_emergency_line(target):
            self.sent_away += 1
            self.sent_away_confident += suggestion.confidence >= 0.5
        if scored != gold or (gold == "12345" and suggestion.category != example.category):
            self.errors.append({"id": example.id, "text": example.text,
                                "gold": [gold, example.category],
                                "got": [target, suggestion.category],
                                "confidence": round(suggestion.confidence, 3)})
        if gold == "12345" and target == "12345":
            self.categories_total += 1
            self.categories_right += suggestion.category == example.category
        self.emergency_gold += bool(example.emergency)
        self.emergency_predicted += suggestion.emergency
        self.emergency_hits += bool(example.emergency) and suggestion.emergency
        self.uncertain += suggestion.uncertain
        self.certain_right += (not suggestion.uncertain) and scored == gold

    def report(self, n: int) -> EvalReport:
        gold, predicted, uncertain = self.gold, self.predicted, self.uncertain
        per_target = _per_target(gold, predicted)
        scored_targets = [t for t in TARGETS if per_target[t].support]
        hits, emergency_gold, emergency_predicted = (
            self.emergency_hits, self.emergency_gold, self.emergency_predicted)
        return EvalReport(
            examples=n,
            accuracy=sum(g == p for g, p in zip(gold, predicted)) / n,
            macro_f1=sum(per_target[t].f1 for t in scored_targets) / len(scored_targets),
            category_accuracy=(self.categories_right / self.categories_total
                               if self.categories_total else 0.0),
            emergency_recall=hits / emergency_gold if emergency_gold else 1.0,
            emergency_precision=hits / emergency_predicted if emergency_predicted else 1.0,
            emergency_examples=emergency_gold,
            uncertain_rate=uncertain / n,
            accuracy_when_certain=self.certain_right / (n - uncertain) if n > uncertain else 0.0,
            per_target={t: per_target[t] for t in scored_targets},
            confusion=_confusion(gold, predicted),
            latency_ms=percentiles(self.timings),
            calibration_error=expected_calibration_error(self.confidences),
            emergencies_sent_away=self.sent_away,
            emergencies_sent_away_confident=self.sent_away_confident,
            errors=self.errors,
        )


def expected_calibration_error(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> float:
    """Mean gap between stated confidence and observed accuracy, weighted by bin size."""
    if not pairs:
        return 0.0
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(c, right) for c, right in pairs
                   if low <= c < high or (b == bins - 1 and c == 1.0)]
        if members:
            confidence = sum(c for c, _ in members) / len(members)
            accuracy = sum(right for _, right in members) / len(members)
            total += len(members) * abs(confidence - accuracy)
    return total / len(pairs)


def percentiles(timings_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(timings_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 3)}


def _per_target(gold: list[str], predicted: list[str]) -> dict[str, TargetScore]:
    pairs = Counter(zip(gold, predicted))
    scores = {}
    for t in TARGETS:
        tp = pairs[(t, t)]
        support = sum(c for (g, _), c in pairs.items() if g == t)
        guessed = sum(c for (_, p), c in pairs.items() if p == t)
        precision = tp / guessed if guessed else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[t] = TargetScore(round(precision, 4), round(recall, 4), round(f1, 4), support)
    return scores


def _confusion(gold: list[str], predicted: list[str]) -> dict[str, dict[str, int]]:
    matrix: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, predicted):
        row = matrix.setdefault(g, {})
        row[p] = row.get(p, 0) + 1
    return matrix


def format_report(report: EvalReport, source: str) -> str:
    """The human-readable report `hotline route --eval` prints."""
    lines = [
        f"routing evaluation on {source} ({report.examples} examples)",
        f"  top-1 target accuracy   {report.accuracy:.3f}",
        f"  macro-F1 (targets)      {report.macro_f1:.3f}",
        f"  12345 category accuracy {report.category_accuracy:.3f}  (where target is right)",
        (f"  emergency recall        {report.emergency_recall:.3f}  "
         f"({report.emergency_examples} emergencies; precision {report.emergency_precision:.3f})"),
        (f"  emergencies sent to a non-emergency line  {report.emergencies_sent_away}  "
         f"({report.emergencies_sent_away_confident} with confidence >= 0.5)"),
        f"  calibration error (ECE) {report.calibration_error:.3f}",
        (f"  uncertain (three-way)   {report.uncertain_rate:.3f}  "
         f"(accuracy when certain {report.accuracy_when_certain:.3f})"),
        "  latency ms              " + "  ".join(f"{k} {v:.2f}" for k, v in report.latency_ms.items()),
        "",
        "  per target      prec   rec    f1     n",
    ]
    for target, s in report.per_target.items():
        lines.append(f"  {target:<14} {s.precision:.3f}  {s.recall:.3f}  {s.f1:.3f}  {s.support:>3}")
    columns = [t for t in TARGETS if any(t in row for row in report.confusion.values())]
    lines += ["", "  confusion (rows gold, columns suggested)",
              "  " + " " * 14 + "".join(f"{_short(c):>6}" for c in columns)]
    for target in TARGETS:
        if target in report.confusion:
            row = report.confusion[target]
            lines.append(f"  {target:<14}" + "".join(f"{row.get(c, 0) or '.':>6}" for c in columns))
    if report.errors:
        lines += ["", "  mistakes"]
        lines += [f"  {e['id']}  gold {e['gold']}  got {e['got']}  {e['text']}"
                  for e in report.errors]
    return "\n".join(lines)


def _short(target: str) -> str:
    return {"water_gas_heat": "wgh", "locksmith": "lock", "telecom": "tel"}.get(target, target)
