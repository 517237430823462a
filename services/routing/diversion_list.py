"""Seed 001's diversion list (分流转办事项清单), loaded from the versioned data file."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from services.routing.model import CATEGORIES_12345, TARGETS, route_label

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_LIST_PATH = DATA_DIR / "diversion_list.v1.json"


@dataclass(frozen=True)
class ListEntry:
    """One row of the list: a scope of requests and the line that takes them."""

    id: str
    section: str
    target: str
    category: str | None
    name: str
    scope: str
    phrases: tuple[str, ...]

    @property
    def label(self) -> str:
        return route_label(self.target, self.category)


@dataclass(frozen=True)
class EmergencyRule:
    id: str
    target: str
    name: str
    patterns: tuple[str, ...]
    unless: str | None = None  # in the same clause, this means the cue is not about a person
    seed: str | None = None    # the seeds' rule this cue enforces, cited in the reason
    needs: str | None = None   # a second, live cue that must also be in the text (who is exposed)
    compositional: bool = False  # built from lexicons: a negator inside the match cancels it


@dataclass(frozen=True)
class LinkageRule:
    """A procedural rule from the seeds (three-way call, first contact, harassment)."""

    id: str
    source: str
    text: str


@dataclass(frozen=True)
class DiversionList:
    version: str
    entries: tuple[ListEntry, ...]
    rules: dict[str, LinkageRule]
    emergency_rules: tuple[EmergencyRule, ...]
    emergency_cues: dict[str, str]
    synonyms: dict[str, str]
    ivr_choices: dict[str, str]
    equivalent_targets: tuple[frozenset[str], ...]
    sha256: str

    def entry(self, entry_id: str) -> ListEntry:
        return next(e for e in self.entries if e.id == entry_id)

    def entry_for_label(self, label: str) -> ListEntry | None:
        """The first entry whose target/category is this label (for 110: criminal cases)."""
        return next((e for e in self.entries if e.label == label), None)

    def equivalents(self, target: str) -> frozenset[str]:
        """Targets accepted as the same answer (110 and 122 for road traffic)."""
        for group in self.equivalent_targets:
            if target in group:
                return group
        return frozenset({target})


def load_diversion_list(path: Path = DEFAULT_LIST_PATH) -> DiversionList:
    raw_bytes = path.read_bytes()
    raw = json.loads(raw_bytes)
    entries = tuple(
        ListEntry(id=e["id"], section=e["section"], target=e["target"],
                  category=e["category"], name=e["name"], scope=e["scope"],
                  phrases=tuple(e["phrases"]))
        for e in raw["entries"]
    )
    _check_entries(entries)
    return DiversionList(
        version=raw["version"],
        entries=entries,
        rules={r["id"]: LinkageRule(r["id"], r["source"], r["text"]) for r in raw["rules"]},
        emergency_rules=tuple(
            EmergencyRule(r["id"], r["target"], r["name"], tuple(r["patterns"]), r.get("unless"))
            for r in raw["emergency_rules"]
        ),
        emergency_cues=dict(raw["emergency_cues"]),
        synonyms=dict(raw["synonyms"]),
        ivr_choices=dict(raw["ivr_choices"]),
        equivalent_targets=tuple(frozenset(g) for g in raw["equivalent_targets"]),
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
    )


def _check_entries(entries: tuple[ListEntry, ...]) -> None:
    """Refuse a list that names an unknown line or misses one of the 18 categories."""
    unknown = {e.target for e in entries} - set(TARGETS)
    if unknown:
        raise ValueError(f"diversion list names unknown targets: {sorted(unknown)}")
    missing = set(CATEGORIES_12345) - {e.category for e in entries if e.category}
    if missing:
        raise ValueError(f"diversion list misses 12345 categories: {sorted(missing)}")
