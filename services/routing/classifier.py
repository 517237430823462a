"""The statistical half of the suggester: a linear model over words and character pairs.

The artifact is plain JSON (labels, vocabulary, idf, weights), read with numpy only, so
suggesting needs neither scikit-learn nor pickle; `training.py` writes it.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from services.routing.diversion_list import DATA_DIR

DEFAULT_MODEL_PATH = DATA_DIR / "model.v1.json"
ARTIFACT_FORMAT = "hotline-link/routing-linear/2"


def features(tokens: list[str], masked: str) -> list[str]:
    """Words catch the list's vocabulary; character pairs survive segmentation mistakes.

    `masked` is the normalised text with negated words blanked (`TextProcessor.analyse`).
    """
    pairs = [f"c:{a}{b}" for a, b in pairwise(masked) if a.isalnum() and b.isalnum()]
    return [f"w:{t}" for t in tokens] + pairs


def tfidf(feats: list[str], index: dict[str, int], idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values) of the l2-normalised, sublinear tf-idf vector; unknown features drop."""
    counts = Counter(f for f in feats if f in index)
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    idx = np.fromiter((index[f] for f in counts), dtype=np.int64, count=len(counts))
    tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=float, count=len(counts))
    values = tf * idf[idx]
    return idx, values / np.linalg.norm(values)


class Head:
    """One logistic-regression output: softmax over labels, or a sigmoid for one label."""

    def __init__(self, raw: dict[str, Any], n_features: int) -> None:
        self.labels: tuple[str, ...] = tuple(raw["labels"])
        self.weights = np.asarray(raw["weights"], dtype=float).reshape(n_features, -1)
        self.bias = np.asarray(raw["bias"], dtype=float)

    def scores(self, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self.bias + values @ self.weights[idx]

    def probs(self, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        scores = self.scores(idx, values)
        if len(self.labels) == 1:
            return 1.0 / (1.0 + np.exp(-scores))
        exp = np.exp(scores - scores.max())
        return exp / exp.sum()


@dataclass(frozen=True)
class Prediction:
    target_probs: np.ndarray
    category_probs: np.ndarray
    emergency_prob: float
    idx: np.ndarray
    values: np.ndarray


class LinearModel:
    """Three heads over one tf-idf vector: the target line, the 12345 category, emergency."""

    def __init__(self, artifact: dict[str, Any]) -> None:
        if artifact.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"not a routing model artifact: {artifact.get('format')!r}")
        self.meta: dict[str, Any] = artifact["meta"]
        self.feature_names: list[str] = artifact["features"]
        self._index = {f: i for i, f in enumerate(self.feature_names)}
        self._idf = np.asarray(artifact["idf"], dtype=float)
        n = len(self.feature_names)
        self.target = Head(artifact["heads"]["target"], n)
        self.category = Head(artifact["heads"]["category"], n)
        self.emergency = Head(artifact["heads"]["emergency"], n)

    @classmethod
    def read(cls, path: Path) -> LinearModel:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def vector(self, feats: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return tfidf(feats, self._index, self._idf)

    def coverage(self, feats: list[str]) -> float:
        """Share of a text's features the model has seen: low means unlike anything trained on."""
        return sum(f in self._index for f in feats) / len(feats) if feats else 0.0

    def predict(self, feats: list[str]) -> Prediction:
        idx, values = self.vector(feats)
        return Prediction(
            target_probs=self.target.probs(idx, values),
            category_probs=self.category.probs(idx, values),
            emergency_prob=float(self.emergency.probs(idx, values)[0]),
            idx=idx,
            values=values,
        )

    def top_features(self, prediction: Prediction, head: Head, label: str,
                     n: int = 3) -> list[tuple[str, float]]:
        """The features that pushed hardest towards `label` in this text."""
        column = head.labels.index(label)
        contributions = prediction.values * head.weights[prediction.idx, column]
        order = np.argsort(-contributions)[:n]
        return [(self.feature_names[prediction.idx[i]], float(contributions[i]))
                for i in order if contributions[i] > 0]
