"""Text normalisation and segmentation shared by the rules, the classifier and training.

Training and suggesting must cut text the same way, so both go through one `TextProcessor`.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping

import jieba
import opencc

from services.routing.homophones import HomophoneRepair

# jieba announces its dictionary load on stderr at DEBUG; the CLI prints JSON.
jieba.setLogLevel(logging.WARNING)

_SPACE = re.compile(r"\s+")
_COMMON_WORD = 20  # jieba dictionary frequency from which a window is a word in its own right
_KEEP = re.compile(r"[\w\u4e00-\u9fff]")
_NEGATORS = frozenset({"没", "没有", "不是", "未", "并非", "无"})
NEGATED = "非:"  # prefix of a token a negator cancelled: "没有停电" -> 非:停电
_STOPWORDS = frozenset(
    ["的", "了", "是", "在", "我", "我们", "你", "他", "她", "它", "和", "也", "就", "都", "还", "又", "很", "有", "着", "吧", "呢", "啊", "吗", "呀", "嘛", "这", "那", "这个", "那个", "一个", "一下", "一直", "已经", "什么", "怎么", "能", "会", "要", "说", "让", "给", "被", "把", "到", "来", "去", "上", "下", "里", "好", "没", "不"]
)


class TextProcessor:
    """Normalises (traditional→simplified, full-width→half-width) and segments with jieba."""

    def __init__(self, phrases: Iterable[str], synonyms: Mapping[str, str],
                 asr_words: Iterable[str] = (), idioms: Mapping[str, str] | None = None) -> None:
        # tw2s also maps 著火→着火, which plain t2s leaves alone.
        self._converter = opencc.OpenCC("tw2s")
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        self._homophones = HomophoneRepair(
            asr_words, lambda w: self._tokenizer.FREQ.get(w, 0) >= _COMMON_WORD)
        # Idioms that hold an emergency word but mean something else ("打不着火": the engine
        # will not start) are rewritten before anything reads them.
        self._idioms = dict(idioms or {})
        self._idiom_pattern = (re.compile("|".join(map(re.escape, sorted(self._idioms, key=len,
                                                                          reverse=True))))
                               if self._idioms else None)
        self._synonyms = dict(synonyms)
        # Adding the list's phrases keeps them whole, so "路灯故障" is one token, not two.
        words = sorted(set(phrases) | set(self._synonyms) | set(self._synonyms.values()))
        for word in words:
            if len(word) > 1:
                self._tokenizer.add_word(word, freq=2000)

    def normalise(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        text = self._homophones.repair(self._converter.convert(text))
        if self._idiom_pattern is not None:
            text = self._idiom_pattern.sub(lambda m: self._idioms[m.group(0)], text)
        return _SPACE.sub(" ", text).strip().lower()

    def tokens(self, normalised: str) -> list[str]:
        return self.analyse(normalised)[0]

    def analyse(self, normalised: str) -> tuple[list[str], str]:
        """Content tokens (synonyms mapped to the list's wording, negated ones marked) and
        the text with negated words blanked, so character features cannot see them either."""
        out: list[str] = []
        masked = list(normalised)
        previous = ""
        position = 0
        for token in self._tokenizer.cut(normalised):
            start, position = position, position + len(token)
            token = token.strip()
            if not token or not _KEEP.match(token):
                previous = ""
                continue
            if previous in _NEGATORS:
                out.append(NEGATED + self._synonyms.get(token, token))
                masked[start:position] = " " * (position - start)
            elif token not in _STOPWORDS:
                out.append(self._synonyms.get(token, token))
            previous = token
        return out, "".join(masked)


def clauses(normalised: str) -> list[tuple[int, int]]:
    """(start, end) of each clause, split at punctuation, so negation stays local."""
    spans = []
    start = 0
    for match in re.finditer(r"[,，。.!！?？;；:：、\s]", normalised):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(normalised):
        spans.append((start, len(normalised)))
    return spans
