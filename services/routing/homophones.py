"""Repairs what speech recognition writes for a few words that matter most.

A transcript says "着伙" for 着火 and "报井" for 报警: same sound, wrong character. Matching
by sound (toneless pinyin, character by character, so polyphones read one way) catches the
whole class, not a list of typos. A window is repaired only when it also shares a character
with the word, so "找货" (no shared character) stays a shipment and never becomes a fire.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from pypinyin import Style, lazy_pinyin


@lru_cache(maxsize=8192)
def _sound(char: str) -> str:
    if "\u4e00" <= char <= "\u9fff":
        return lazy_pinyin(char, style=Style.NORMAL)[0]
    return char


class HomophoneRepair:
    """`is_word` says whether a window is already a word of the language ("大人" sounds like
    "打人" and shares a character, but it is a word, so it stays)."""

    def __init__(self, words: Iterable[str],
                 is_word: Callable[[str], bool] = lambda _: False) -> None:
        self._is_word = is_word
        self._by_sound: dict[tuple[str, ...], list[str]] = {}
        for word in dict.fromkeys(words):
            if len(word) >= 2:
                self._by_sound.setdefault(tuple(_sound(c) for c in word), []).append(word)
        self._lengths = sorted({len(k) for k in self._by_sound}, reverse=True)

    def repair(self, text: str) -> str:
        if not self._by_sound:
            return text
        sounds = [_sound(c) for c in text]
        out = list(text)
        i = 0
        while i < len(text):
            for length in self._lengths:
                window = text[i:i + length]
                if len(window) < length:
                    continue
                if i and text[i - 1] in _COUNTING:
                    continue  # "这条河" is a river, not "跳河": after 这/一/几 comes a measure word
                if self._aspect_inside(text, i, length) or self._splits_next_word(text, i, length):
                    continue  # "干着活" is working, "是火车站" a station: neither is 着火/失火
                for word in self._by_sound.get(tuple(sounds[i:i + length]), ()):
                    if window != word and _shares_enough(window, word) \
                            and not self._is_word(window):
                        out[i:i + length] = word
                        i += length - 1
                        break
                else:
                    continue
                break
            i += 1
        return "".join(out)


    def _aspect_inside(self, text: str, i: int, length: int) -> bool:
        """An aspect particle between a verb and its object ("干着活", "吃着饭") starts the
        window but belongs to the word around it."""
        return bool(i) and text[i] in _ASPECT and self._is_word(text[i - 1] + text[i + 1:i + length])

    def _splits_next_word(self, text: str, i: int, length: int) -> bool:
        """The window's last character begins a word with the next one ("就是|火车"), so it
        belongs to that word and the window is no mangled 失火."""
        end = i + length
        return end < len(text) and self._is_word(text[end - 1:end + 1])


_ASPECT = frozenset("着了过")
_COUNTING = frozenset("这那一二两三四五六七八九十几每哪某半")


def _shares_enough(window: str, word: str) -> bool:
    """At least half the characters in place (one of two, two of three or four)."""
    same = sum(a == b for a, b in zip(window, word))
    return same * 2 >= len(word) and same < len(word)
