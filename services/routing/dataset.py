"""The project's labelled set: JSONL lines of {"id","text","target","category","emergency"}.

Road-traffic examples may carry `accept: ["110", "122"]`: either line is a right answer.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from services.routing.diversion_list import DATA_DIR
from services.routing.model import CATEGORIES_12345, TARGETS, route_label

TRAIN_PATH = DATA_DIR / "labelled.train.jsonl"
HELDOUT_PATH = DATA_DIR / "labelled.heldout.jsonl"


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    target: str | None = None
    category: str | None = None
    emergency: bool | None = None
    accept: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        if self.target is None:
            raise ValueError(f"example {self.id} has no target")
        return route_label(self.target, self.category)

    def accepts(self, target: str) -> bool:
        return target == self.target or target in self.accept


def read_examples(path: Path) -> list[Example]:
    """Labels are optional, so `--jsonl` input ({"id","text"}) reads the same way."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        example = Example(
            id=str(row.get("id", number)),
            text=row["text"],
            target=row.get("target"),
            category=row.get("category"),
            emergency=row.get("emergency"),
            accept=frozenset(row.get("accept", ())),
        )
        _check(example, path, number)
        examples.append(example)
    return examples


def _check(example: Example, path: Path, number: int) -> None:
    if example.target is not None and example.target not in TARGETS:
        raise ValueError(f"{path}:{number}: unknown target {example.target!r}")
    if example.target == "12345" and example.category not in CATEGORIES_12345:
        raise ValueError(f"{path}:{number}: 12345 needs one of the 18 categories")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shingles(text: str) -> frozenset[str]:
    kept = [c for c in text.lower() if c.isalnum()]
    return frozenset(a + b for a, b in zip(kept, kept[1:]))


def near_paraphrases(existing: list[Example], new: list[Example],
                     threshold: float = 0.8) -> list[Example]:
    """The new examples whose character-pair sets overlap an earlier one's by `threshold`
    (Jaccard) or more: twins that would let a writer's wording count twice."""
    kept: list[frozenset[str]] = [_shingles(e.text) for e in existing]
    dropped = []
    for example in new:
        shingles = _shingles(example.text)
        if any(len(shingles & k) >= threshold * len(shingles | k) for k in kept if k):
            dropped.append(example)
        else:
            kept.append(shingles)
    return dropped


def example_line(example: Example) -> str:
    row: dict[str, object] = {"id": example.id, "text": example.text, "target": example.target,
                              "category": example.category, "emergency": example.emergency}
    if example.accept:
        row["accept"] = sorted(example.accept)
    return json.dumps(row, ensure_ascii=False)
