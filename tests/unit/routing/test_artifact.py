import logging

from services.routing import Suggester
from services.routing.classifier import DEFAULT_MODEL_PATH, LinearModel
from services.routing.dataset import TRAIN_PATH, file_sha256, read_examples
from services.routing.training import build_artifact, dump_artifact


def test_the_shipped_artifact_was_built_from_the_shipped_data(processor_and_list):
    _, diversion_list = processor_and_list
    meta = LinearModel.read(DEFAULT_MODEL_PATH).meta

    assert meta["train_sha256"] == file_sha256(TRAIN_PATH)
    assert meta["list_sha256"] == diversion_list.sha256


def test_rebuilding_the_artifact_gives_the_same_bytes(processor_and_list):
    processor, diversion_list = processor_and_list

    artifact = build_artifact(read_examples(TRAIN_PATH), diversion_list, processor,
                              file_sha256(TRAIN_PATH))

    assert dump_artifact(artifact) == DEFAULT_MODEL_PATH.read_text(encoding="utf-8")


def test_the_artifact_is_small():
    assert DEFAULT_MODEL_PATH.stat().st_size < 5_000_000


def test_given_no_artifact_when_loading_then_one_is_trained_in_memory_and_logged(
        tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="services.routing.suggester"):
        suggester = Suggester.load(tmp_path / "missing.json")

    assert "missing" in caplog.text
    assert suggester.suggest("停电了").target == "power"
