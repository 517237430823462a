"""The list's rules: phrase matching against list entries, and the emergency override."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from services.routing.diversion_list import DiversionList, EmergencyRule, ListEntry
from services.routing.emergency_lexicon import EmergencyLexicon, SymptomCluster
from services.routing.text import NEGATED, TextProcessor, clauses


@dataclass(frozen=True)
class EntryMatch:
    entry: ListEntry
    phrases: tuple[str, ...]


class ListMatcher:
    """Finds the list entries whose key phrases (after synonym mapping) occur in a text.

    Phrases match inside jieba's tokens too ("卖淫" in "卖淫嫖娼"), but never inside a
    negated one ("没有停电"); one-character phrases must be a whole token.
    """

    def __init__(self, diversion_list: DiversionList, processor: TextProcessor) -> None:
        self._phrases: list[tuple[str, str, ListEntry]] = []
        self._single: dict[str, list[tuple[str, ListEntry]]] = defaultdict(list)
        for entry in diversion_list.entries:
            for phrase in dict.fromkeys((*entry.phrases, entry.name)):
                canonical = "".join(processor.tokens(processor.normalise(phrase)))
                if len(canonical) > 1:
                    self._phrases.append((canonical, phrase, entry))
                elif canonical:
                    self._single[canonical].append((phrase, entry))

    def match(self, tokens: list[str]) -> list[EntryMatch]:
        # No separators: jieba may cut "路灯不亮" as 路|灯不亮; a negated word leaves a gap.
        joined = "".join("|" if t.startswith(NEGATED) else t for t in tokens)
        found: dict[str, tuple[ListEntry, list[str]]] = {}
        hits = [(phrase, entry) for canonical, phrase, entry in self._phrases
                if canonical in joined]
        hits += [hit for token in tokens for hit in self._single.get(token, ())]
        for phrase, entry in hits:
            _, phrases = found.setdefault(entry.id, (entry, []))
            if phrase not in phrases:
                phrases.append(phrase)
        return [EntryMatch(entry, tuple(phrases)) for entry, phrases in found.values()]


@dataclass(frozen=True)
class EmergencyHit:
    rule: EmergencyRule
    phrase: str


@dataclass(frozen=True)
class EmergencyFinding:
    hits: list[EmergencyHit]
    # A cue was there but negated, past or a mere hazard: the model must not overrule that.
    ruled_out: bool


class EmergencyDetector:
    """Imminent danger to life, property or public safety, by explicit rules.

    A cue counts only when it is not negated ("没有着火"), not a hazard or worry
    ("火灾隐患", "担心着火"), not resolved ("火已经灭了") and not in the past ("昨天被打了").
    The list's E.* rules come first (they name the emergency); the lexicon's compositional
    rules and symptom clusters follow, for emergencies told by what is happening.
    """

    def __init__(self, diversion_list: DiversionList,
                 lexicon: EmergencyLexicon | None = None) -> None:
        self._lexicon = lexicon
        cues = diversion_list.emergency_cues
        self._before = re.compile(cues["before"])
        self._after = re.compile(cues["after"])
        self._within = re.compile(cues["within"])
        self._resolved = re.compile(cues["resolved"])
        self._past = re.compile(cues["past"])
        self._present = re.compile(cues["present"] + "|今天|今晚|这会")
        self._hazard = re.compile(cues["hazard"])
        rules = [*diversion_list.emergency_rules, *(lexicon.rules if lexicon else ())]
        self._negated_inside = (re.compile(lexicon.negated_inside)
                                if lexicon and lexicon.negated_inside else None)
        self._rules = [
            (rule, re.compile("|".join(f"(?:{p})" for p in rule.patterns)),
             re.compile(rule.unless) if rule.unless else None,
             re.compile(rule.needs) if rule.needs else None)
            for rule in rules
        ]
        self._clusters = [
            (cluster, {name: re.compile(p) for name, p in cluster.patterns.items()})
            for cluster in (lexicon.clusters if lexicon else ())
        ]

    def detect(self, normalised: str) -> EmergencyFinding:
        """Every rule that fires, in priority order (the list's violence rule first)."""
        spans = clauses(normalised)
        hits = []
        ruled_out = bool(self._hazard.search(normalised))
        for rule, pattern, unless, needs in self._rules:
            for match in pattern.finditer(normalised):
                # A two-part cue can carry its negation inside: "车祸，没有人受伤",
                # and a compositional one its negator: "两条船碰了一下，没进水".
                inside = match.group(0)
                live = not ((len(inside) > 4 and self._within.search(inside))
                            or (rule.compositional and self._negated_inside is not None
                                and self._negated_inside.search(inside)))
                if live and unless is not None:
                    start, end = _clause_of(spans, match.start(), len(normalised))
                    live = not unless.search(normalised, start, end)
                if live and self._is_live(normalised, spans, match.start(), match.end()):
                    if needs is not None and not self._live_match(needs, normalised, spans):
                        continue
                    hits.append(EmergencyHit(rule, match.group(0)))
                    break
                ruled_out = True
        for cluster, patterns in self._clusters:
            found = self._cluster(cluster, patterns, normalised, spans)
            if found is not None:
                hits.append(found)
        if self._lexicon is not None:
            hits.sort(key=lambda hit: self._lexicon.rank_of(hit.rule.id, hit.phrase))  # stable
        return EmergencyFinding(hits, ruled_out and not hits)

    def _live_match(self, pattern: re.Pattern[str], text: str,
                    spans: list[tuple[int, int]]) -> str | None:
        for match in pattern.finditer(text):
            if self._is_live(text, spans, match.start(), match.end()):
                return match.group(0)
        return None

    def _cluster(self, cluster: SymptomCluster, patterns: dict[str, re.Pattern[str]],
                 text: str, spans: list[tuple[int, int]]) -> EmergencyHit | None:
        seen: dict[str, str] = {}   # cue -> lexicon; one cue counts once however often said
        for name, pattern in patterns.items():
            for match in pattern.finditer(text):
                if match.group(0) not in seen and self._is_live(text, spans, match.start(),
                                                                  match.end()):
                    seen[match.group(0)] = name
        if len(seen) < cluster.min or cluster.require not in seen.values():
            return None
        rule = EmergencyRule(cluster.id, cluster.target, cluster.name, (), seed=cluster.seed)
        return EmergencyHit(rule, "+".join(seen))

    def _is_live(self, text: str, spans: list[tuple[int, int]], start: int, end: int) -> bool:
        clause_start, clause_end = _clause_of(spans, start, len(text))
        if self._negated_before(text[max(clause_start, start - 6):start]):
            return False
        if self._after.search(text[end:min(clause_end, end + 4)]):
            return False
        if self._resolved.search(text, start, min(len(text), end + _RESOLVED_WINDOW)):
            return False
        return not self._in_past(text, start, end)

    def _negated_before(self, window: str) -> bool:
        """A negator just before the cue, unless it was a correction: in "不是没油是发动机冒烟"
        the 不是 denies 没油 and the second 是 asserts what follows."""
        found = list(self._before.finditer(window))
        if not found:
            return False
        corrected = any(m.group(0) in _CORRECTING for m in found)
        return not (corrected and "是" in window[found[-1].end():])

    def _in_past(self, text: str, start: int, end: int) -> bool:
        """A past cue shortly before the cue, with no "now" after it, puts the cue in the past.

        The window is short: speech recognition writes no full stops, and a long story that
        began "上个月" must not silence what is happening now at its end.
        """
        sentence_start = max(text.rfind(ch, 0, start) for ch in "。！？!?；;") + 1
        window = text[max(sentence_start, start - _PAST_WINDOW):end]
        past = list(self._past.finditer(window))
        if not past:
            return False
        return not self._present.search(window, past[-1].end())


_CORRECTING = frozenset({"不是", "并非"})
_PAST_WINDOW = 16      # characters before a cue that a past-tense word can reach
_RESOLVED_WINDOW = 30  # characters after a cue where "已经扑灭" still speaks of it


def _clause_of(spans: list[tuple[int, int]], position: int, length: int) -> tuple[int, int]:
    return next(((s, e) for s, e in spans if s <= position < e), (0, length))
