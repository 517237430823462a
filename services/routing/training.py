"""Builds the model artifact from the training split, deterministically.

scikit-learn is only imported here: suggesting reads the JSON weights with numpy.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from services.routing.classifier import ARTIFACT_FORMAT, features, tfidf
from services.routing.dataset import Example, file_sha256
from services.routing.diversion_list import DiversionList
from services.routing.model import TARGETS
from services.routing.text import TextProcessor

# Chosen by 5-fold cross-validation on the training split only (never on the held-out file).
REGULARISATION_C = 3.0
EMERGENCY_C = 5.0
DECIMALS = 5
MIN_DF = 2


def build_artifact(examples: list[Example], diversion_list: DiversionList,
                   processor: TextProcessor, train_sha256: str) -> dict[str, Any]:
    feats = [features(*processor.analyse(processor.normalise(e.text))) for e in examples]
    names, idf, matrix = _tfidf_matrix(feats)
    n = len(examples)
    target_head = _with_every_target(
        _fit(matrix, [e.target or "" for e in examples], REGULARISATION_C), len(names))
    in_12345 = [i for i, e in enumerate(examples) if e.target == "12345"]
    category_head = _fit(matrix[in_12345], [examples[i].category or "" for i in in_12345],
                         REGULARISATION_C)
    emergency_head = _fit(matrix, ["emergency" if e.emergency else "-" for e in examples],
                          EMERGENCY_C)
    return {
        "format": ARTIFACT_FORMAT,
        "meta": {
            "train_sha256": train_sha256,
            "list_sha256": diversion_list.sha256,
            "list_version": diversion_list.version,
            "examples": n,
            "C": REGULARISATION_C,
            "emergency_C": EMERGENCY_C,
        },
        "features": names,
        "idf": _round(idf),
        "heads": {"target": target_head, "category": category_head,
                  "emergency": emergency_head},
    }


def _tfidf_matrix(feats: list[list[str]]) -> tuple[list[str], np.ndarray, Any]:
    """The feature names kept, their idf, and the examples' tf-idf rows as a sparse matrix."""
    from scipy.sparse import csr_matrix

    df = Counter(f for fs in feats for f in set(fs))
    # A feature seen in one example only is that writer's wording, not the class's; dropping
    # those keeps the artifact small and the model from memorising single lines.
    names = sorted(f for f, count in df.items() if count >= MIN_DF)
    index = {f: i for i, f in enumerate(names)}
    n = len(feats)
    idf = np.array([math.log((1 + n) / (1 + df[f])) + 1.0 for f in names])

    rows, cols, vals = [], [], []
    for row, fs in enumerate(feats):
        idx, values = tfidf(fs, index, idf)
        rows += [row] * len(idx)
        cols += idx.tolist()
        vals += values.tolist()
    return names, idf, csr_matrix((vals, (rows, cols)), shape=(n, len(names)))


def _with_every_target(head: dict[str, Any], n_features: int) -> dict[str, Any]:
    """A line with no example (a fold may lack 122) gets a column that never wins."""
    missing = [t for t in TARGETS if t not in head["labels"]]
    if not missing:
        return head
    return {"labels": head["labels"] + missing,
            "bias": head["bias"] + [-30.0] * len(missing),
            "weights": [row + [0.0] * len(missing) for row in head["weights"]]}


def _fit(matrix: Any, labels: list[str], c: float) -> dict[str, Any]:
    """Balanced classes: a 12-example line must not lose to 110's sixty."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit(matrix, labels)
    classes = [str(c) for c in model.classes_]
    coef, bias = model.coef_, model.intercept_
    if len(classes) == 2:  # sklearn keeps one column for two classes: the second one's
        classes = classes[1:]
    return {"labels": classes, "bias": _round(bias),
            "weights": [_round(row) for row in coef.T]}


def build_model_file(train_path: Path, diversion_list: DiversionList,
                     processor: TextProcessor, out_path: Path) -> dict[str, Any]:
    from services.routing.dataset import read_examples

    artifact = build_artifact(read_examples(train_path), diversion_list, processor,
                              file_sha256(train_path))
    out_path.write_text(dump_artifact(artifact), encoding="utf-8")
    return artifact


def dump_artifact(artifact: dict[str, Any]) -> str:
    """Sorted keys, fixed rounding, one feature's weights per line: stable bytes, readable diffs."""
    text = json.dumps(artifact, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("],[", "],\n[") + "\n"


def _round(values: Any) -> list[float]:
    # +0.0 turns -0.0 into 0.0 so that equal models print equal bytes.
    return [round(float(v), DECIMALS) + 0.0 for v in values]
