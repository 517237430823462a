import pytest

from services.routing.dataset import HELDOUT_PATH, TRAIN_PATH, read_examples
from services.routing.evaluation import evaluate
from services.routing.model import CATEGORIES_12345, TARGETS


@pytest.fixture(scope="module")
def report(suggester):
    return evaluate(suggester, read_examples(HELDOUT_PATH))


def test_held_out_accuracy_is_at_least_092(report):
    assert report.accuracy >= 0.92


def test_held_out_macro_f1_is_at_least_088(report):
    assert report.macro_f1 >= 0.88


def test_held_out_emergency_recall_is_1(report):
    assert report.emergency_examples > 0
    assert report.emergency_recall == 1.0


def test_the_labelled_set_covers_every_target_and_category_in_both_splits():
    for path in (TRAIN_PATH, HELDOUT_PATH):
        examples = read_examples(path)
        assert {e.target for e in examples} == set(TARGETS)
        assert {e.category for e in examples if e.target == "12345"} == set(CATEGORIES_12345)


def test_the_labelled_set_has_400_examples_and_no_held_out_text_is_trained_on():
    train, heldout = read_examples(TRAIN_PATH), read_examples(HELDOUT_PATH)

    assert len(train) + len(heldout) >= 400
    assert not {e.text for e in train} & {e.text for e in heldout}
    assert not {e.id for e in train} & {e.id for e in heldout}


def test_a_suggestion_the_example_accepts_counts_as_right(suggester):
    from services.routing.dataset import Example

    examples = [Example("t1", "路口两辆车刮蹭了，没人受伤", "122", None, False,
                        frozenset({"110", "122"}))]

    assert evaluate(suggester, examples).accuracy == 1.0
