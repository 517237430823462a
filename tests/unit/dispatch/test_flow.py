"""The dispatch flow's table, without a database."""
import pytest

from services.dispatch.flow import TABLE, Action, Actor, State, step
from services.work_orders.errors import IllegalTransition
from services.work_orders.status import TRANSITIONS, Status

STATUS_OF = {State.NEW: Status.RECEIVED, State.DISPATCHED: Status.ASSIGNED,
             State.ACCEPTED: Status.IN_PROGRESS, State.RETURNED: Status.RETURNED}


def test_dispatch_then_accept_then_return_then_dispatch_again():
    state = State.NEW
    for action in (Action.DISPATCH, Action.ACCEPT, Action.RETURN, Action.DISPATCH):
        state = step(state, action).next
    assert state is State.DISPATCHED


@pytest.mark.parametrize("state", [State.DISPATCHED, State.ACCEPTED, State.RETURNED])
def test_a_supervisor_reassigns_from_every_state_a_department_was_involved_in(state):
    found = step(state, Action.REASSIGN)
    assert found.next is State.DISPATCHED and found.actors == {Actor.SUPERVISOR}
    assert found.new_department and found.needs_reason


@pytest.mark.parametrize(("state", "action"), [
    (State.NEW, Action.ACCEPT), (State.NEW, Action.RETURN), (State.NEW, Action.REASSIGN),
    (State.DISPATCHED, Action.DISPATCH), (State.ACCEPTED, Action.ACCEPT),
    (State.ACCEPTED, Action.DISPATCH), (State.RETURNED, Action.ACCEPT),
    (State.RETURNED, Action.RETURN)])
def test_steps_not_in_the_table_are_refused_with_what_is_allowed(state, action):
    with pytest.raises(IllegalTransition) as caught:
        step(state, action)
    assert caught.value.details["allowed"] == sorted(
        str(a) for (s, a) in TABLE if s is state)


def test_only_the_department_accepts_and_returns_and_a_return_needs_a_reason():
    for state in (State.DISPATCHED, State.ACCEPTED):
        assert step(state, Action.RETURN).actors == {Actor.DEPARTMENT}
        assert step(state, Action.RETURN).needs_reason
    assert step(State.DISPATCHED, Action.ACCEPT).actors == {Actor.DEPARTMENT}
    assert Actor.DEPARTMENT not in step(State.NEW, Action.DISPATCH).actors


@pytest.mark.parametrize("key", list(TABLE))
def test_every_step_moves_the_order_along_the_order_status_table(key):
    state, _action = key
    found = TABLE[key]
    status = STATUS_OF[state]
    for target in found.moves:
        assert target in TRANSITIONS[status], (status, target)
        status = target
    assert status is STATUS_OF[found.next]
