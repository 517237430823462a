import itertools

import pytest

from services.work_orders.errors import IllegalTransition
from services.work_orders.status import TRANSITIONS, Status, check_transition, path_to

PAIRS = list(itertools.product(Status, Status))
LEGAL = [(a, b) for a, b in PAIRS if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in PAIRS if b not in TRANSITIONS[a]]


def test_table_covers_every_status():
    assert set(TRANSITIONS) == set(Status)


def test_main_line_runs_received_to_closed():
    line = ["received", "assigned", "in_progress", "replied", "visited", "closed"]
    for current, target in itertools.pairwise(line):
        check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_legal_move_is_allowed(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_move_is_a_clear_error(current, target):
    with pytest.raises(IllegalTransition) as err:
        check_transition(current, target)
    assert err.value.details["current"] == current
    assert err.value.details["target"] == target
    assert str(current) in str(err.value) and str(target) in str(err.value)


def test_closed_and_rejected_are_final():
    assert not TRANSITIONS[Status.CLOSED] and not TRANSITIONS[Status.REJECTED]


@pytest.mark.parametrize("status", list(Status))
def test_every_status_is_reachable_from_received(status):
    current = Status.RECEIVED
    for step in path_to(status):
        check_transition(current, step)
        current = step
    assert current == status
