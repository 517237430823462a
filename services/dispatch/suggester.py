"""Which department an order goes to: BM25 over the catalogue's responsibility items.

Each item is a document of its title and keywords, cut by the routing suggester's
`TextProcessor` (jieba with the catalogue's keywords kept whole, the diversion list's
synonyms, negation marked), and indexed twice with bm25s: by words, and by character
bigrams so that a phrase cut differently ("物业公司" against "物业") still meets its
item. An item whose categories hold the order's category scores more; items whose
regions do not cover the order's region are left out. A department scores as its
best item, and every suggestion says which item matched on which words.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import bm25s  # type: ignore[import-untyped]
import numpy as np

from services.dispatch.catalogue import FALLBACK_DEPARTMENT, Catalogue, Item
from services.routing.diversion_list import load_diversion_list
from services.routing.text import NEGATED, TextProcessor

# Words that say nothing about whose job a matter is (the routing stopwords already go):
# "水质问题" must not draw every summary that says 问题 to the water company.
GENERIC = frozenset({
    "问题", "情况", "反映", "处理", "解决", "希望", "请问", "咨询", "现在", "我家", "我们",
    "他们", "时候", "公司", "单位", "部门", "工作人员", "相关", "有关", "一些", "这样", "那边",
})


@dataclass(frozen=True)
class Weights:
    """Fixed by reasoning, not fitted: no evaluation set was used to choose them."""

    bigram: float = 0.3        # character bigrams back up the word index
    category: float = 1.5      # multiplier for an item covering the order's category
    temperature: float = 2.0   # softmax temperature of the confidence over departments
    top: int = 3


@dataclass(frozen=True)
class Reason:
    item_id: str
    title: str
    words: tuple[str, ...]
    score: float
    category: str | None = None   # the order's category, when the item covers it
    region: str | None = None     # the order's region, which the item covers

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "title": self.title, "words": list(self.words),
                "score": round(self.score, 3), "category": self.category,
                "region": self.region}


@dataclass(frozen=True)
class Candidate:
    department: str
    name: str
    score: float
    confidence: float
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"department": self.department, "name": self.name,
                "score": round(self.score, 3), "confidence": round(self.confidence, 3),
                "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True)
class DispatchSuggestion:
    department: str | None
    confidence: float
    candidates: tuple[Candidate, ...]
    category: str | None
    region: str | None
    fallback: bool = False     # nothing matched: the 属地 department by rule
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"department": self.department, "confidence": round(self.confidence, 3),
                "category": self.category, "region": self.region, "fallback": self.fallback,
                "note": self.note, "candidates": [c.to_dict() for c in self.candidates]}


@dataclass
class _Index:
    bm25: bm25s.BM25
    docs: list[set[str]] = field(default_factory=list)


class DispatchSuggester:
    def __init__(self, catalogue: Catalogue, weights: Weights | None = None,
                 text: TextProcessor | None = None) -> None:
        self.catalogue = catalogue
        self.weights = weights or Weights()
        self._items = list(catalogue.items)
        words = {k for item in self._items for k in item.keywords}
        self._text = text or TextProcessor(words, load_diversion_list().synonyms)
        self._word_docs = [self._item_words(item) for item in self._items]
        self._bigram_docs = [_bigrams(doc) for doc in self._word_docs]
        self._words = _index(self._word_docs)
        self._bigram = _index(self._bigram_docs)

    @classmethod
    def shipped(cls) -> DispatchSuggester:
        from services.dispatch.catalogue import load_shipped

        return cls(load_shipped())

    def _item_words(self, item: Item) -> list[str]:
        out: list[str] = []
        for phrase in (item.title, *item.keywords):
            out.extend(self._text.tokens(self._text.normalise(phrase)))
        return _content(out)

    def suggest(self, text: str, category: str | None = None,
                region: str | None = None) -> DispatchSuggestion:
        normalised = self._text.normalise(text or "")
        words = _content(self._text.tokens(normalised))
        scores = self._scores(words)
        best: dict[str, tuple[float, list[Reason]]] = {}
        query = set(words)
        for index, item in enumerate(self._items):
            score = float(scores[index])
            if score <= 0 or not item.covers_region(region):
                continue
            in_category = category is not None and category in item.categories
            if in_category:
                score *= self.weights.category
            matched = tuple(sorted(self._matched(index, item, query, normalised)))
            reason = Reason(item.item_id, item.title, matched, score,
                            category if in_category else None, region)
            top_score, reasons = best.get(item.department, (0.0, []))
            reasons.append(reason)
            best[item.department] = (max(top_score, score), reasons)
        if not best:
            return self._fallback(category, region)
        return self._ranked(best, category, region)

    def _matched(self, index: int, item: Item, query: set[str], normalised: str) -> set[str]:
        """The words the item matched on; the shared bigrams when no whole word did."""
        words = query & set(self._word_docs[index]) | {k for k in item.keywords
                                                        if k in normalised}
        if words:
            return words
        return set(_bigrams(list(query))) & set(self._bigram_docs[index])

    def _scores(self, words: Sequence[str]) -> np.ndarray:
        if not words:
            return np.zeros(len(self._items))
        word_scores = self._words.bm25.get_scores(list(words))
        bigram_scores = self._bigram.bm25.get_scores(_bigrams(words))
        return np.asarray(word_scores + self.weights.bigram * bigram_scores)

    def _ranked(self, best: dict[str, tuple[float, list[Reason]]], category: str | None,
                region: str | None) -> DispatchSuggestion:
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        top = max(score for score, _ in best.values())
        weights = {d: math.exp((s - top) / self.weights.temperature) for d, (s, _) in best.items()}
        total = sum(weights.values())
        candidates = tuple(
            Candidate(department, self.catalogue.departments[department].name, score,
                      weights[department] / total,
                      tuple(sorted(reasons, key=lambda r: -r.score)[:2]))
            for department, (score, reasons) in ranked[: self.weights.top])
        return DispatchSuggestion(candidates[0].department, candidates[0].confidence,
                                  candidates, category, region)

    def _fallback(self, category: str | None, region: str | None) -> DispatchSuggestion:
        department = self.catalogue.departments.get(FALLBACK_DEPARTMENT)
        if department is None:
            return DispatchSuggestion(None, 0.0, (), category, region,
                                      note="no responsibility item matched")
        candidate = Candidate(department.id, department.name, 0.0, 0.0, ())
        return DispatchSuggestion(department.id, 0.0, (candidate,), category, region,
                                  fallback=True,
                                  note="no responsibility item matched: the territorial "
                                  "(属地) department by rule")


def _content(words: Sequence[str]) -> list[str]:
    return [w for w in words if not w.startswith(NEGATED) and w not in GENERIC]


def _bigrams(words: Sequence[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        if len(word) == 1:
            out.append(word)
        out.extend(word[i:i + 2] for i in range(len(word) - 1))
    return out


def _index(docs: list[list[str]]) -> _Index:
    bm25 = bm25s.BM25()
    bm25.index(docs, show_progress=False)
    return _Index(bm25, [set(d) for d in docs])
