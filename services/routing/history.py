"""What a caller's earlier calls say about this one (seed 002's harassment rule; linking)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from services.routing.model import PriorCall

# A threat is enough on its own; harassment, drunkenness or mental illness must repeat.
THREAT_CALLS = 1
REPEAT_CALLS = 2
LINK_SIMILARITY = 0.3

Vectoriser = Callable[[str], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class HarassmentFinding:
    flags: tuple[str, ...]
    calls: int


def harassment(history: Sequence[PriorCall]) -> HarassmentFinding | None:
    """Seed 002: malicious harassment, threats and drunk or mentally ill repeat callers → 110."""
    counts = Counter(flag for call in history for flag in call.flags)
    repeat = sum(1 for call in history if call.flags & {"harassment", "drunk", "mental"})
    if counts["threat"] >= THREAT_CALLS or repeat >= REPEAT_CALLS:
        flagged = [call for call in history if call.flags & {"harassment", "threat", "drunk", "mental"}]
        return HarassmentFinding(tuple(sorted(counts)), len(flagged))
    return None


def open_matter(text_vector: tuple[np.ndarray, np.ndarray], history: Sequence[PriorCall],
                vectorise: Vectoriser) -> tuple[PriorCall, float] | None:
    """The open order this call repeats, if its summary is close enough to one."""
    best: tuple[PriorCall, float] | None = None
    for call in sorted(history, key=lambda c: c.when, reverse=True):
        if not (call.open and call.order_id and call.summary.strip()):
            continue
        score = cosine(text_vector, vectorise(call.summary))
        if score >= LINK_SIMILARITY and (best is None or score > best[1]):
            best = (call, score)
    return best


def cosine(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Both vectors are l2-normalised sparse (indices, values) pairs."""
    common, ia, ib = np.intersect1d(a[0], b[0], assume_unique=True, return_indices=True)
    if not len(common):
        return 0.0
    return float(a[1][ia] @ b[1][ib])
