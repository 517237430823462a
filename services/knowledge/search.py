"""Search over published entries: jieba words, BM25 (bm25s), and the routing category.

A document is the entry's question and alternative phrasings (counted twice: they
are what citizens say) and its answer (once). The query is cut the same way. An
entry of the category the routing suggestion names gets its BM25 score multiplied
by `CATEGORY_BOOST` (the category may be an order code or the diversion list's category
the routing suggestion names: `categories.matches`); an entry of another region is left out when a region is asked.
Only entries sharing at least one word with the query are returned, each with the
words it shares.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bm25s
import jieba
import numpy as np
import opencc

from .categories import matches

jieba.setLogLevel(logging.WARNING)

CATEGORY_BOOST = 1.5
QUESTION_WEIGHT = 2     # question and alternatives count this many times, the answer once
_KEEP = re.compile(r"[0-9a-z\u4e00-\u9fff]")
_STOPWORDS = frozenset(
    ["的", "了", "是", "在", "我", "我们", "你", "您", "他", "她", "它", "和", "与", "也", "就", "都", "还", "又", "很", "着", "吧", "呢", "啊", "吗", "呀", "嘛", "哦", "这", "那", "这个", "那个", "一个", "一下", "什么", "怎么", "怎么办", "怎样", "如何", "哪里", "哪儿", "能", "会", "要", "想", "说", "让", "给", "被", "把", "到", "来", "去", "可以", "是不是", "有没有", "请问", "问", "问一下", "请", "现在", "然后", "就是", "因为", "所以", "如果", "还是", "或者", "需要", "应该", "个", "么", "啦", "找", "谁", "哪个", "一直", "老是", "总是", "经常", "特别", "非常", "太", "好", "办"])


class Tokenizer:
    """NFKC, traditional → simplified, lower case, jieba's search cut, stop words out."""

    def __init__(self) -> None:
        self._converter = opencc.OpenCC("t2s")
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()

    def __call__(self, text: str) -> list[str]:
        text = self._converter.convert(unicodedata.normalize("NFKC", text)).lower()
        return [w for w in self._jieba.lcut_for_search(text)
                if w not in _STOPWORDS and _KEEP.search(w)]


@dataclass(frozen=True)
class Hit:
    entry: Mapping[str, Any]
    score: float
    bm25: float
    matched: tuple[str, ...]
    category_match: bool

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {"entry_id": e["entry_id"], "topic": e.get("topic"), "question": e["question"],
                "answer": e["answer"], "department": e["department"],
                "category": e["category"], "region_code": e["region_code"],
                "version": e["version"], "score": round(self.score, 4),
                "bm25": round(self.bm25, 4), "category_match": self.category_match,
                "matched": list(self.matched)}


@dataclass
class SearchIndex:
    """Built once from a list of entry dicts; `search` is read-only and thread-safe."""

    tokenizer: Tokenizer | None = None
    category_boost: float = CATEGORY_BOOST
    use_category: bool = True
    entries: list[Mapping[str, Any]] = field(default_factory=list)
    _bm25: Any = None
    _terms: list[frozenset[str]] = field(default_factory=list)
    _regions: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    _masks: dict[str, np.ndarray] = field(default_factory=dict)

    def build(self, entries: Iterable[Mapping[str, Any]]) -> SearchIndex:
        if self.tokenizer is None:
            self.tokenizer = _shared_tokenizer()
        self.entries = list(entries)
        docs = [self._document(e) for e in self.entries]
        self._terms = [frozenset(d) for d in docs]
        self._regions = np.array([e["region_code"] for e in self.entries], dtype=object)
        self._masks = {}
        if self.entries:
            self._bm25 = bm25s.BM25()
            # an empty document still needs one token for bm25s
            self._bm25.index([d or ["\u3000"] for d in docs], show_progress=False)
        return self

    def _document(self, entry: Mapping[str, Any]) -> list[str]:
        assert self.tokenizer is not None
        asked = " ".join([entry["question"], *entry.get("alternatives", [])])
        return self.tokenizer(asked) * QUESTION_WEIGHT + self.tokenizer(entry["answer"])

    def _category_mask(self, category: str) -> np.ndarray:
        mask = self._masks.get(category)
        if mask is None:
            mask = np.fromiter((matches(e, category) for e in self.entries), dtype=bool,
                               count=len(self.entries))
            if len(self._masks) < 256:    # categories are few; hostile ones are not kept
                self._masks[category] = mask
        return mask

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, q: str, *, category: str | None = None, region: str | None = None,
               limit: int = 10) -> list[Hit]:
        if not self.entries or not q.strip():
            return []
        assert self.tokenizer is not None
        words = list(dict.fromkeys(self.tokenizer(q)))
        ids = self._bm25.get_tokens_ids(words)
        if not ids:
            return []
        bm25 = self._bm25.get_scores(ids)
        scores = bm25.copy()
        same_category = None
        if category and self.use_category:
            same_category = self._category_mask(category)
            scores[same_category] *= self.category_boost
        if region:
            scores[self._regions != region] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if candidates.size > limit:
            top = np.argpartition(-scores[candidates], limit - 1)[:limit]
            candidates = candidates[top]
        ranked = sorted(candidates.tolist(), key=lambda i: (-scores[i], i))
        query = set(words)
        return [Hit(entry=self.entries[i], score=float(scores[i]), bm25=float(bm25[i]),
                    matched=tuple(w for w in words if w in self._terms[i] and w in query),
                    category_match=bool(same_category[i]) if same_category is not None
                    else False)
                for i in ranked]


_TOKENIZER: Tokenizer | None = None


def _shared_tokenizer() -> Tokenizer:
    """One tokenizer per process: loading jieba's dictionary takes about a second."""
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = Tokenizer()
    return _TOKENIZER


def search_entries(entries: Sequence[Mapping[str, Any]], q: str, **kwargs: Any) -> list[Hit]:
    """One-off search (tests, the CLI): build an index and ask it once."""
    return SearchIndex().build(entries).search(q, **kwargs)
