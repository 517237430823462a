"""Scoring the department suggester on labelled summaries: top-1, top-3, and what each
department's orders were taken for."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from services.dispatch.suggester import DispatchSuggester


@dataclass(frozen=True)
class Example:
    text: str
    department: str
    category: str | None = None
    region: str | None = None


def read_examples(stream: IO[str]) -> Iterator[Example]:
    """`{"text", "department"}` per line (optionally `category`, `region`)."""
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            yield Example(str(raw["text"]), str(raw["department"]),
                          raw.get("category"), raw.get("region"))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"line {number}: need a JSON object with text and department "
                             f"({exc})") from None


def evaluate(suggester: DispatchSuggester, examples: Iterable[Example]) -> dict[str, Any]:
    total = top1 = top3 = 0
    expected: Counter[str] = Counter()
    right: Counter[str] = Counter()
    confused: dict[str, Counter[str]] = defaultdict(Counter)
    unknown: Counter[str] = Counter()
    for example in examples:
        if example.department not in suggester.catalogue.departments:
            unknown[example.department] += 1
        suggestion = suggester.suggest(example.text, example.category, example.region)
        ranked = [c.department for c in suggestion.candidates]
        total += 1
        expected[example.department] += 1
        if suggestion.department == example.department:
            top1 += 1
            right[example.department] += 1
        else:
            confused[example.department][suggestion.department or "none"] += 1
        top3 += example.department in ranked[:3]
    return {
        "examples": total,
        "top1": top1 / total if total else None,
        "top3": top3 / total if total else None,
        "top1_correct": top1,
        "top3_correct": top3,
        "unknown_departments": dict(unknown),
        "departments": [
            {"department": d, "examples": n, "top1_correct": right[d],
             "confused_with": dict(confused[d].most_common())}
            for d, n in sorted(expected.items())],
    }


def render(result: dict[str, Any], source: str) -> str:
    lines = [f"dispatch suggester on {source}: {result['examples']} summaries"]
    if result["examples"]:
        lines += [(f"top-1 accuracy  {result['top1']:.3f}  ({result['top1_correct']}/"
                  f"{result['examples']})"),
                  (f"top-3 accuracy  {result['top3']:.3f}  ({result['top3_correct']}/"
                  f"{result['examples']})")]
    if result["unknown_departments"]:
        lines.append(f"departments not in the catalogue: {result['unknown_departments']}")
    lines.append("per department: examples, top-1 right, taken for (count)")
    for row in result["departments"]:
        taken = ", ".join(f"{d}×{n}" for d, n in row["confused_with"].items()) or "-"
        lines.append(f"  {row['department']:<26} {row['examples']:>4} {row['top1_correct']:>4}"
                     f"  {taken}")
    return "\n".join(lines)
