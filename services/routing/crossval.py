"""Honest figures from the training data alone: leave-one-writer-out cross-validation.

The training file is written by several independent writers (the id prefix before "-"
names one). Holding out a whole writer at a time asks what happens on a stranger's
wording, which is what the hotline meets; a random split would let near-twins of the
same writer leak across. The out-of-writer predictions also fit the confidence
calibration (a Platt scale on the logit of the raw confidence), written to
`data/calibration.v1.json` with the sha256 of the data it came from.
"""
from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.routing.dataset import Example, file_sha256
from services.routing.diversion_list import DATA_DIR, DiversionList
from services.routing.text import TextProcessor

if TYPE_CHECKING:
    from services.routing.suggester import Tuning

CALIBRATION_PATH = DATA_DIR / "calibration.v1.json"
IDENTITY: dict[str, dict[str, float]] = {}  # no calibration: the raw probability

log = logging.getLogger(__name__)


def read_calibration(train_sha256: str | None) -> dict[str, dict[str, float]]:
    """The calibration fitted by `hotline route --crossval`, if it belongs to a model
    trained on the data whose sha256 is `train_sha256`."""
    if not CALIBRATION_PATH.exists():
        return IDENTITY
    raw = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    if raw.get("train_sha256") != train_sha256:
        log.warning("routing calibration %s was fitted for other training data; "
                    "rerun `hotline route --crossval`", CALIBRATION_PATH)
        return IDENTITY
    return {basis: {"a": float(ab["a"]), "b": float(ab["b"])}
            for basis, ab in raw["bases"].items()}


def writer_of(example: Example) -> str:
    return example.id.split("-", 1)[0] if "-" in example.id else "project"


@dataclass(frozen=True)
class Outcome:
    example: Example
    target: str
    category: str | None
    emergency: bool
    raw_confidence: float
    emergency_prob: float
    basis: str


def out_of_writer_outcomes(examples: Sequence[Example], diversion_list: DiversionList,
                           processor: TextProcessor,
                           tuning: Tuning | None = None) -> list[Outcome]:
    from services.routing.classifier import LinearModel
    from services.routing.suggester import Suggester, Tuning
    from services.routing.training import build_artifact

    by_writer: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_writer[writer_of(example)].append(example)
    outcomes = []
    for writer, held in sorted(by_writer.items()):
        train = [e for e in examples if writer_of(e) != writer]
        model = LinearModel(build_artifact(train, diversion_list, processor, "crossval"))
        suggester = Suggester(diversion_list, processor, model,  # uncalibrated
                              tuning or Tuning())
        for example in held:
            s = suggester.suggest(example.text)
            prediction = suggester.model.predict(suggester.features(example.text))
            outcomes.append(Outcome(example, s.target, s.category, s.emergency,
                                    s.confidence, prediction.emergency_prob, s.basis))
    return outcomes


def fit_calibration(outcomes: Sequence[Outcome]) -> dict[str, dict[str, float]]:
    """One Platt scale per basis: an emergency rule's near-certain score and the
    classifier's probability are wrong at different rates, and one curve cannot fit both."""
    by_basis: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for o in outcomes:
        by_basis[o.basis].append((o.raw_confidence, o.example.accepts(o.target)))
    return {basis: fit_platt(pairs) for basis, pairs in sorted(by_basis.items())}


def fit_platt(pairs: Sequence[tuple[float, bool]]) -> dict[str, float]:
    """Logistic regression of correctness on logit(raw confidence): two numbers. Where more
    confidence does not mean more often right (a negative slope), the basis gets its plain
    accuracy instead: a curve that turns certainty into doubt would mislead the agent."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([[_logit(c)] for c, _ in pairs])
    y = np.array([int(right) for _, right in pairs])
    accuracy = (y.sum() + 1) / (len(y) + 2)  # Laplace: never exactly 0 or 1
    if len(set(y.tolist())) < 2:
        return {"a": 0.0, "b": round(_logit(accuracy), 5)}
    model = LogisticRegression(C=100.0).fit(x, y)
    a, b = float(model.coef_[0][0]), float(model.intercept_[0])
    if a <= 0:
        return {"a": 0.0, "b": round(_logit(accuracy), 5)}
    return {"a": round(a, 5), "b": round(b, 5)}


def calibrate(confidence: float, calibration: dict[str, dict[str, float]],
              basis: str = "text") -> float:
    scale = calibration.get(basis)
    if scale is None:
        return confidence
    z = scale["a"] * _logit(confidence) + scale["b"]
    return 1.0 / (1.0 + math.exp(-z))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def write_calibration(path: Path, train_path: Path,
                      calibration: dict[str, dict[str, float]], figures: dict[str, Any]) -> None:
    body = {"train_sha256": file_sha256(train_path), "bases": calibration, "crossval": figures}
    path.write_text(json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                    encoding="utf-8")
