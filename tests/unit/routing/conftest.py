from __future__ import annotations

from typing import Any

import pytest

from services.routing import Suggester
from services.routing.classifier import ARTIFACT_FORMAT, LinearModel
from services.routing.diversion_list import load_diversion_list
from services.routing.model import CATEGORIES_12345, TARGETS
from services.routing.suggester import Tuning, build_processor


@pytest.fixture(scope="session")
def suggester() -> Suggester:
    return Suggester.load()


@pytest.fixture(scope="session")
def processor_and_list():
    diversion_list = load_diversion_list()
    return build_processor(diversion_list), diversion_list


def stub_model(target_bias: dict[str, float], emergency_bias: float = -20.0) -> LinearModel:
    """A model that ignores the text: its heads only have biases."""
    artifact: dict[str, Any] = {
        "format": ARTIFACT_FORMAT,
        "meta": {},
        "features": ["w:stub"],
        "idf": [1.0],
        "heads": {
            "target": {"labels": list(TARGETS), "weights": [[0.0] * len(TARGETS)],
                       "bias": [target_bias.get(t, 0.0) for t in TARGETS]},
            "category": {"labels": list(CATEGORIES_12345),
                         "weights": [[0.0] * len(CATEGORIES_12345)],
                         "bias": [0.0] * len(CATEGORIES_12345)},
            "emergency": {"labels": ["emergency"], "weights": [[0.0]], "bias": [emergency_bias]},
        },
    }
    return LinearModel(artifact)


@pytest.fixture()
def stub_suggester(processor_and_list):
    processor, diversion_list = processor_and_list

    def make(target_bias: dict[str, float], **kwargs: Any) -> Suggester:
        # The stub knows no feature, so every text would look unfamiliar to it.
        return Suggester(diversion_list, processor, stub_model(target_bias, **kwargs),
                         Tuning(min_coverage=0.0))

    return make
