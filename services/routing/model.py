"""What a routing suggestion is made of: targets, call context, reasons.

Plain data only; nothing here knows about Asterisk, the model or the list file.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TARGETS: tuple[str, ...] = (
    "110", "12345", "119", "120", "122", "12313", "12395", "12348",
    "power", "water_gas_heat", "telecom", "locksmith",
)

# The 18 categories 110 hands to 12345, in the order of seed 001's annex.
CATEGORIES_12345: tuple[str, ...] = (
    "卫生医疗", "劳动和社会保障", "林水管理", "市场监督管理", "民政救助", "公共设施",
    "文广管理", "环保管理", "市容管理", "施工管理", "食品药品监管", "安全生产监督",
    "农林绿化", "文旅管理", "交通运输", "住房城乡建设", "海事管理", "其他纠纷类",
)

# The emergency stage only ever sends a call to one of these: the lines the seeds name
# for danger now (000/002: 110 with 119, 120 and 122; 001-3.2: 12395 for vessels in distress).
EMERGENCY_OVERRIDE_TARGETS: frozenset[str] = frozenset({"110", "119", "120", "122", "12395"})

_EMERGENCY_LINES: frozenset[str] = EMERGENCY_OVERRIDE_TARGETS

UTILITIES: frozenset[str] = frozenset({"power", "water_gas_heat", "telecom", "locksmith"})

# Where the agent's `*8` key can send a caller (110 and 12345 use the one-key transfer).
TRANSFERABLE_LINES: tuple[str, ...] = (
    "119", "120", "122", "12313", "12395", "12348",
    "power", "water_gas_heat", "telecom", "locksmith",
)

# Flags an agent can put on a call; seed 002 sends repeat offenders to 110.
HISTORY_FLAGS: frozenset[str] = frozenset({"harassment", "threat", "drunk", "mental"})


def is_emergency_line(target: str) -> bool:
    """True for 110 and the emergency lines the seeds link it with (119, 120, 122, 12395)."""
    return target in _EMERGENCY_LINES


def route_label(target: str, category: str | None) -> str:
    """The classifier's label: the target, or `12345/<category>` for 12345."""
    return f"12345/{category}" if target == "12345" and category else target


def split_label(label: str) -> tuple[str, str | None]:
    target, _, category = label.partition("/")
    return target, category or None


@dataclass(frozen=True)
class PriorCall:
    """One earlier call from the same number, as the work-order store remembers it."""

    when: datetime
    summary: str
    flags: frozenset[str] = frozenset()
    order_id: str | None = None
    open: bool = False
    target: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class CallContext:
    """What is known about a call besides the agent's summary."""

    site: str = "12345"
    ivr_choice: str | None = None
    history: Sequence[PriorCall] = ()


@dataclass(frozen=True)
class Reason:
    """Why a suggestion says what it says; `ref` cites a list entry, rule or order."""

    kind: str
    ref: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "ref": self.ref, "text": self.text}


@dataclass(frozen=True)
class Alternative:
    target: str
    category: str | None
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "category": self.category,
                "confidence": round(self.confidence, 3)}


@dataclass(frozen=True)
class Suggestion:
    """Which line should take a call, how sure we are, and why."""

    target: str
    category: str | None
    emergency: bool
    confidence: float
    uncertain: bool = False
    propose_three_way: bool = False
    reasons: list[Reason] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)
    linked_order_id: str | None = None
    # What decided the line: "rule" (an emergency cue), "model_emergency" (the emergency
    # head) or "text" (list phrases and the classifier); each has its own calibration.
    basis: str = "text"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "category": self.category,
            "emergency": self.emergency,
            "confidence": round(self.confidence, 3),
            "uncertain": self.uncertain,
            "propose_three_way": self.propose_three_way,
            "reasons": [r.to_dict() for r in self.reasons],
            "alternatives": [a.to_dict() for a in self.alternatives],
            "linked_order_id": self.linked_order_id,
        }
