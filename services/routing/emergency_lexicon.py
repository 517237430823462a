"""The compositional emergency cues (`data/emergency_lexicon.v1.json`).

The diversion list's E.* rules name emergencies by their words ("打架", "昏迷"). Callers
often tell them by what is happening instead: someone swinging a pipe, chest pain with a
cold sweat, a road caving in with cars still coming. These rules are built from small
lexicons (an act, a symptom, a hazard, who is exposed) so that a new combination of known
parts still fires; a lexicon grows without touching the code.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from services.routing.diversion_list import DATA_DIR, EmergencyRule
from services.routing.model import EMERGENCY_OVERRIDE_TARGETS

DEFAULT_LEXICON_PATH = DATA_DIR / "emergency_lexicon.v1.json"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class SymptomCluster:
    """Fires when `min` distinct live cues from `lexicons` occur, one of them from `require`:
    chest pain alone is a question for a doctor, chest pain with a cold sweat is a call for 120."""

    id: str
    target: str
    name: str
    seed: str
    patterns: dict[str, str]  # lexicon name -> regex
    require: str
    min: int


@dataclass(frozen=True)
class EmergencyLexicon:
    version: str
    rules: tuple[EmergencyRule, ...]
    clusters: tuple[SymptomCluster, ...]
    asr_words: tuple[str, ...]   # words whose homophones speech recognition writes
    negated_inside: str | None   # a negator inside a compositional match cancels it
    idioms: dict[str, str]       # rewritten before reading: "打不着火" is an engine, not a fire
    # rule id -> rank when several rules fire: someone harming a person (110) first, then a
    # vessel in distress, fire and entrapment, road and public dangers, and medical last, so
    # "锁在车里出不来" is a confinement for the police and not a rescue for 119.
    rank: dict[str, int]
    # a cry anyone makes ("救命") says there is danger, not which: another rule's hit wins
    weak_cues: frozenset[str]
    sha256: str

    def rank_of(self, rule_id: str, phrase: str = "") -> int:
        weak = len(self.rank) + 1 if phrase in self.weak_cues else 0
        return weak + self.rank.get(rule_id, len(self.rank))


def load_emergency_lexicon(path: Path = DEFAULT_LEXICON_PATH) -> EmergencyLexicon:
    raw_bytes = path.read_bytes()
    raw = json.loads(raw_bytes)
    lexicons: dict[str, str] = raw["lexicons"]

    def expand(pattern: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in lexicons:
                raise ValueError(f"{path.name}: unknown lexicon {{{name}}} in {pattern!r}")
            return f"(?:{lexicons[name]})"
        return _PLACEHOLDER.sub(one, pattern)

    rules = []
    for r in raw["rules"]:
        _check_target(r["id"], r["target"])
        needs = r.get("needs")
        if needs is not None and needs not in lexicons:
            raise ValueError(f"{path.name}: rule {r['id']} needs unknown lexicon {needs}")
        rules.append(EmergencyRule(
            r["id"], r["target"], r["name"], tuple(expand(p) for p in r["patterns"]),
            unless=r.get("unless"), seed=r.get("seed"),
            needs=lexicons[needs] if needs else None, compositional=True))
    clusters = []
    for c in raw.get("clusters", ()):
        _check_target(c["id"], c["target"])
        clusters.append(SymptomCluster(
            c["id"], c["target"], c["name"], c["seed"],
            {name: lexicons[name] for name in c["lexicons"]}, c["require"], int(c["min"])))
    for pattern in [p for r in rules for p in r.patterns]:
        re.compile(pattern)  # a broken pattern must fail at load, not on a live call
    return EmergencyLexicon(raw["version"], tuple(rules), tuple(clusters),
                            tuple(raw.get("asr_words", ())), raw.get("negated_inside"),
                            dict(raw.get("idioms", {})), _ranks(raw),
                            frozenset(raw.get("weak_cues", ())),
                            hashlib.sha256(raw_bytes).hexdigest())


def _ranks(raw: dict) -> dict[str, int]:
    order = {group: i for i, group in enumerate(raw.get("priority", ()))}
    ranks = {}
    for rule_id, group in raw.get("rule_priority", {}).items():
        if group not in order:
            raise ValueError(f"rule {rule_id}: unknown priority group {group!r}")
        ranks[rule_id] = order[group]
    return ranks


def _check_target(rule_id: str, target: str) -> None:
    if target not in EMERGENCY_OVERRIDE_TARGETS:
        raise ValueError(f"emergency rule {rule_id} targets {target}, not an emergency line")
