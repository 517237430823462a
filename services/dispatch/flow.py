"""The dispatch flow of a 12345 order, as one explicit table.

    new ──dispatch──▶ dispatched ──accept──▶ accepted
                         │    ▲                 │
                       return  └──reassign──────┤
                         ▼                      │
                      returned ◀────return──────┘
                         └──dispatch / reassign──▶ dispatched

派单 (dispatch) by the hotline, 签收 (accept) and 退单 (return, with a reason) by the
department that holds the order, 改派 (reassign) to another department by a supervisor.
Each step also moves the order along the work-order status table, by the moves listed
here (a reassignment of an accepted order passes through `returned` on its way back
to `assigned`, since the order table has no in_progress → assigned). Anything not in
the table is refused.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.work_orders.errors import IllegalTransition
from services.work_orders.status import Status


class State(StrEnum):
    NEW = "new"                # not yet dispatched
    DISPATCHED = "dispatched"  # 派单: waiting for the department's 签收
    ACCEPTED = "accepted"      # 签收: the department is handling it
    RETURNED = "returned"      # 退单: back at the hotline, with the department's reason


class Action(StrEnum):
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RETURN = "return"
    REASSIGN = "reassign"


class Actor(StrEnum):
    """Who may take a step: the hotline's agents, the holding department, a supervisor."""

    HOTLINE = "hotline"
    DEPARTMENT = "department"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Step:
    next: State
    moves: tuple[Status, ...]      # the order's status moves, in order
    actors: frozenset[Actor]
    new_department: bool           # the step names the department that holds it next
    needs_reason: bool = False


S, A = State, Action
_ANY_STAFF = frozenset({Actor.HOTLINE, Actor.SUPERVISOR})
TABLE: Mapping[tuple[State, Action], Step] = {
    (S.NEW, A.DISPATCH): Step(S.DISPATCHED, (Status.ASSIGNED,), _ANY_STAFF, True),
    (S.RETURNED, A.DISPATCH): Step(S.DISPATCHED, (Status.ASSIGNED,), _ANY_STAFF, True),
    (S.DISPATCHED, A.ACCEPT): Step(S.ACCEPTED, (Status.IN_PROGRESS,),
                                   frozenset({Actor.DEPARTMENT}), False),
    (S.DISPATCHED, A.RETURN): Step(S.RETURNED, (Status.RETURNED,),
                                   frozenset({Actor.DEPARTMENT}), False, needs_reason=True),
    (S.ACCEPTED, A.RETURN): Step(S.RETURNED, (Status.RETURNED,),
                                 frozenset({Actor.DEPARTMENT}), False, needs_reason=True),
    (S.DISPATCHED, A.REASSIGN): Step(S.DISPATCHED, (), frozenset({Actor.SUPERVISOR}), True,
                                     needs_reason=True),
    (S.ACCEPTED, A.REASSIGN): Step(S.DISPATCHED, (Status.RETURNED, Status.ASSIGNED),
                                   frozenset({Actor.SUPERVISOR}), True, needs_reason=True),
    (S.RETURNED, A.REASSIGN): Step(S.DISPATCHED, (Status.ASSIGNED,),
                                   frozenset({Actor.SUPERVISOR}), True, needs_reason=True),
}


def step(state: State | str, action: Action | str) -> Step:
    """The table's step for `action` in `state`; IllegalTransition if there is none."""
    state, action = State(state), Action(action)
    found = TABLE.get((state, action))
    if found is None:
        allowed = sorted(str(a) for (s, a) in TABLE if s is state)
        raise IllegalTransition(f"cannot {action} an order that is {state}",
                                state=str(state), action=str(action), allowed=allowed)
    return found
