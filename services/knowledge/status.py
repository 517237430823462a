"""The status flow of a knowledge-base entry, as one explicit table.

draft → in_review → published → retired is the main line. A reviewer may send an
entry back to draft; a published entry goes back to draft when it is edited (its
published text stays in the version history) and to retired when it no longer
holds. Who may make each move is part of the table: departments write and submit,
supervisors publish and retire.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from .errors import IllegalEntryTransition, NotYourEntry


class EntryStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    RETIRED = "retired"


class Actor(StrEnum):
    DEPARTMENT = "department"   # the owning department's editor
    SUPERVISOR = "supervisor"


E = EntryStatus
D, S = Actor.DEPARTMENT, Actor.SUPERVISOR
# (from, to) -> who may make the move
TRANSITIONS: Mapping[tuple[EntryStatus, EntryStatus], frozenset[Actor]] = {
    (E.DRAFT, E.IN_REVIEW): frozenset({D, S}),
    (E.DRAFT, E.RETIRED): frozenset({D, S}),        # a draft nobody wants
    (E.IN_REVIEW, E.DRAFT): frozenset({D, S}),      # withdrawn, or sent back by the reviewer
    (E.IN_REVIEW, E.PUBLISHED): frozenset({S}),
    (E.PUBLISHED, E.DRAFT): frozenset({D, S}),      # reopened for an edit
    (E.PUBLISHED, E.RETIRED): frozenset({S}),
    (E.RETIRED, E.DRAFT): frozenset({S}),           # brought back to be rewritten
}

# Statuses whose text a department may edit in place (published text is reopened first).
EDITABLE = frozenset({E.DRAFT, E.IN_REVIEW})


def allowed_moves(current: EntryStatus | str, actor: Actor | str) -> list[str]:
    current, actor = EntryStatus(current), Actor(actor)
    return sorted(str(to) for (frm, to), who in TRANSITIONS.items()
                  if frm == current and actor in who)


def check_transition(current: EntryStatus | str, target: EntryStatus | str,
                     actor: Actor | str) -> None:
    """Raise unless the table lets `actor` move an entry from `current` to `target`."""
    current, target, actor = EntryStatus(current), EntryStatus(target), Actor(actor)
    who = TRANSITIONS.get((current, target))
    if who is None:
        raise IllegalEntryTransition(
            f"cannot move an entry from {current} to {target}", current=str(current),
            target=str(target), allowed=sorted(str(t) for (f, t) in TRANSITIONS if f == current))
    if actor not in who:
        raise NotYourEntry(f"a {actor} may not move an entry from {current} to {target}",
                           current=str(current), target=str(target),
                           allowed=allowed_moves(current, actor))
