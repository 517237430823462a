"""Who may hear a recording: the supervisors of its site (a supervisor without a site
covers every site) and the agents who took part in it, on their own seat and site."""
from __future__ import annotations

from typing import Protocol


class Listener(Protocol):
    role: str
    site: str | None
    seat: str | None


def may_hear(user: Listener, site: str, seats: tuple[str, ...] | list[str]) -> bool:
    if user.role == "supervisor":
        return user.site is None or user.site == site
    if user.role.startswith("agent_"):
        return user.site == site and user.seat is not None and user.seat in seats
    return False
