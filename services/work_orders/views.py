"""Who sees what of an order.

The citizen's number is stored whole; only the roles that must call the citizen
back see it whole. An agent of the other platform sees an order only through
its link and feedback: its status and outcome, never the citizen or the details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.privacy import mask_number

from .errors import AccessDenied


class Role(StrEnum):
    AGENT_12345 = "agent_12345"
    AGENT_110 = "agent_110"
    VISITOR = "visitor"  # 回访员 of 12345: calls citizens back
    SUPERVISOR = "supervisor"  # 督办
    DEPARTMENT = "department"  # 承办单位


def _default_full_number() -> Mapping[str, frozenset[Role]]:
    return {
        "12345": frozenset({Role.AGENT_12345, Role.VISITOR}),
        "110": frozenset({Role.AGENT_110}),
    }


@dataclass(frozen=True)
class ViewPolicy:
    full_number: Mapping[str, frozenset[Role]] = field(default_factory=_default_full_number)
    home_platform: Mapping[Role, str] = field(
        default_factory=lambda: {Role.AGENT_12345: "12345", Role.AGENT_110: "110"}
    )


LINK_VIEW_FIELDS = ("order_id", "platform", "status", "outcome", "updated_at")


def render_view(record: dict[str, Any], role: Role, policy: ViewPolicy) -> dict[str, Any]:
    """`record` (with `linked`) as `role` may see it; AccessDenied when not at all."""
    platform = record["platform"]
    home = policy.home_platform.get(role)
    if home is not None and home != platform:
        linked = [link for link in record["linked"] if link["platform"] == home]
        if not linked:
            raise AccessDenied(
                f"a {home} agent sees a {platform} order only through a link",
                order_id=record["order_id"],
                role=str(role),
            )
        view = {name: record[name] for name in LINK_VIEW_FIELDS}
        view["linked"] = linked
        view["feedback"] = [e for e in record["history"] if e["kind"] == "feedback"]
        view["restricted"] = True
        return view
    view = dict(record)
    if role not in policy.full_number.get(platform, frozenset()):
        view["citizen_number"] = mask_number(record["citizen_number"])
    view["restricted"] = False
    return view
