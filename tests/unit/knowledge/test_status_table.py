import pytest

from services.knowledge.errors import IllegalEntryTransition, NotYourEntry
from services.knowledge.status import (
    TRANSITIONS,
    Actor,
    EntryStatus,
    allowed_moves,
    check_transition,
)

E = EntryStatus


def test_every_status_is_reachable_from_draft_and_retired_can_be_brought_back():
    reached, frontier = {E.DRAFT}, [E.DRAFT]
    while frontier:
        current = frontier.pop()
        for (frm, to) in TRANSITIONS:
            if frm == current and to not in reached:
                reached.add(to)
                frontier.append(to)
    assert reached == set(E)
    assert (E.RETIRED, E.DRAFT) in TRANSITIONS


@pytest.mark.parametrize(("frm", "to"), [(E.IN_REVIEW, E.PUBLISHED), (E.PUBLISHED, E.RETIRED),
                                         (E.RETIRED, E.DRAFT)])
def test_only_supervisors_publish_retire_and_revive(frm, to):
    check_transition(frm, to, Actor.SUPERVISOR)
    with pytest.raises(NotYourEntry) as err:
        check_transition(frm, to, Actor.DEPARTMENT)
    assert str(to) not in err.value.details["allowed"]


@pytest.mark.parametrize(("frm", "to"), [(E.DRAFT, E.IN_REVIEW), (E.IN_REVIEW, E.DRAFT),
                                         (E.PUBLISHED, E.DRAFT)])
def test_departments_submit_withdraw_and_reopen(frm, to):
    check_transition(frm, to, Actor.DEPARTMENT)


@pytest.mark.parametrize(("frm", "to"), [(E.DRAFT, E.PUBLISHED), (E.RETIRED, E.PUBLISHED),
                                         (E.DRAFT, E.DRAFT), (E.RETIRED, E.IN_REVIEW)])
def test_moves_outside_the_table_are_refused_for_everyone(frm, to):
    for actor in Actor:
        with pytest.raises(IllegalEntryTransition):
            check_transition(frm, to, actor)


def test_allowed_moves_lists_what_an_actor_may_do_next():
    assert allowed_moves(E.IN_REVIEW, Actor.DEPARTMENT) == ["draft"]
    assert allowed_moves(E.IN_REVIEW, Actor.SUPERVISOR) == ["draft", "published"]
