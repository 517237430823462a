"""The status flow of an order, as one explicit table.

received → assigned → in_progress → replied → visited → closed is the main line;
transferred, returned and rejected are side branches. Anything not in the table
is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from .errors import IllegalTransition


class Status(StrEnum):
    RECEIVED = "received"  # 受理
    ASSIGNED = "assigned"  # 派单 to a department
    IN_PROGRESS = "in_progress"  # 办理中
    REPLIED = "replied"  # 答复 / 反馈: the deadline is met here
    VISITED = "visited"  # 回访 done
    CLOSED = "closed"  # 办结
    TRANSFERRED = "transferred"  # handed to the other platform (转办)
    RETURNED = "returned"  # 退单: the department sent it back
    REJECTED = "rejected"  # 不予受理


S = Status
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    # closed straight from received: a duplicate or a merged repeat call.
    S.RECEIVED: frozenset({S.ASSIGNED, S.TRANSFERRED, S.REJECTED, S.CLOSED}),
    S.ASSIGNED: frozenset({S.IN_PROGRESS, S.RETURNED, S.TRANSFERRED}),
    S.IN_PROGRESS: frozenset({S.REPLIED, S.RETURNED, S.TRANSFERRED}),
    # back to in_progress when the citizen disputes the reply or the visit finds it unresolved.
    S.REPLIED: frozenset({S.VISITED, S.IN_PROGRESS}),
    S.VISITED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.RETURNED: frozenset({S.ASSIGNED, S.TRANSFERRED, S.REJECTED}),
    # received again when the other platform sends it back; closed when its outcome arrives.
    S.TRANSFERRED: frozenset({S.RECEIVED, S.CLOSED}),
    S.REJECTED: frozenset(),
    S.CLOSED: frozenset(),
}

# Statuses in which the order waits for its reply on this platform: the deadline runs.
WAITING = frozenset({S.RECEIVED, S.ASSIGNED, S.IN_PROGRESS, S.RETURNED})
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def check_transition(current: Status | str, target: Status | str) -> None:
    """Raise IllegalTransition unless the table allows `current` → `target`."""
    current, target = Status(current), Status(target)
    if target not in TRANSITIONS[current]:
        allowed = sorted(TRANSITIONS[current])
        raise IllegalTransition(
            f"cannot move an order from {current} to {target}",
            current=str(current),
            target=str(target),
            allowed=[str(s) for s in allowed],
        )


def path_to(target: Status) -> list[Status]:
    """Shortest chain of legal moves from received to `target` (for tests and demos)."""
    paths: dict[Status, list[Status]] = {S.RECEIVED: []}
    frontier = [S.RECEIVED]
    while frontier:
        nxt = []
        for status in frontier:
            for follower in sorted(TRANSITIONS[status]):
                if follower not in paths:
                    paths[follower] = [*paths[status], follower]
                    nxt.append(follower)
        frontier = nxt
    return paths[target]
