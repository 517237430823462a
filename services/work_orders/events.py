"""Order events: what the controller says happened, without waiting for the database.

Each event has a stable `event_id`; the consumer stores it so that replaying a
stream or a spool applies every event once. Events whose meaning has a natural
key (an order opened, a transfer to a given order) derive the id from it, so
even a controller that emits the same fact twice creates one row.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import orjson

from services.privacy import mask_number

from .ids import new_event_id

TRANSFER_MODES = ("handover", "three_way", "online")


@dataclass(frozen=True, kw_only=True)
class OrderEvent:
    kind: ClassVar[str] = ""
    event_id: str = ""

    def __post_init__(self) -> None:
        if not self.event_id:
            object.__setattr__(self, "event_id", self._natural_id() or new_event_id())
        for name in _fields_of(type(self))[0]:
            value = getattr(self, name)
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError(f"{type(self).__name__}.{name} must be timezone-aware")

    def _natural_id(self) -> str | None:
        return None

    @property
    def order_ref(self) -> str:
        """The order this event is about, used to keep one order's events in sequence."""
        return getattr(self, "order_id", "")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for name in _fields_of(type(self))[0]:
            value = getattr(self, name)
            data[name] = value.isoformat() if isinstance(value, datetime) else value
        return data

    def to_json(self) -> str:
        """Compact UTF-8 JSON, keys sorted. orjson: a call emits some ten events, each
        encoded on the call loop, and the standard encoder took half of their cost."""
        return orjson.dumps(self.to_dict(),
                            option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def from_dict(data: dict[str, Any]) -> OrderEvent:
        data = dict(data)
        try:
            cls = EVENT_TYPES[data.pop("kind")]
        except KeyError as exc:
            raise ValueError(f"unknown order event kind: {exc}") from None
        names, datetimes = _fields_of(cls)
        values = {}
        for name, value in data.items():
            if name not in names:
                continue  # a newer producer's extra field: ignore, do not fail
            if name in datetimes and isinstance(value, str):
                value = datetime.fromisoformat(value)
            values[name] = value
        return cls(**values)

    @staticmethod
    def from_json(text: str | bytes) -> OrderEvent:
        try:
            data = orjson.loads(text)
        except ValueError:   # e.g. NaN, which the standard encoder once wrote
            data = json.loads(text)
        return OrderEvent.from_dict(data)


def _fields_of(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """A class's field names in declaration order, and its datetime fields, worked out
    once per class: building an event, encoding and decoding it all read them, and
    dataclasses.fields and the type hints were costly per event."""
    known = _FIELDS.get(cls)
    if known is None:
        known = _FIELDS[cls] = _resolve_fields(cls)
    return known


_FIELDS: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


def _resolve_fields(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    hints = typing.get_type_hints(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    return names, frozenset(n for n in names if hints.get(n) is datetime)


@dataclass(frozen=True, kw_only=True)
class OrderOpened(OrderEvent):
    """A citizen's call (or online request) opened an order on its platform."""

    kind: ClassVar[str] = "order_opened"
    order_id: str
    platform: str
    call_id: str | None
    citizen_number: str = field(repr=False)
    region_code: str
    channel: str
    opened_at: datetime
    suggestion: dict[str, Any] | None = None
    category: str | None = None
    level: str | None = None
    summary: str = ""

    def _natural_id(self) -> str:
        return f"{self.order_id}:opened"

    def __repr__(self) -> str:
        return (
            f"OrderOpened(order_id={self.order_id!r}, platform={self.platform!r}, "
            f"citizen={mask_number(self.citizen_number)!r}, channel={self.channel!r}, "
            f"category={self.category!r}, level={self.level!r})"
        )


@dataclass(frozen=True, kw_only=True)
class OrderTransferred(OrderEvent):
    """A transfer, three-way hand-over or online forward opened a linked order."""

    kind: ClassVar[str] = "order_transferred"
    source_order_id: str
    target_order_id: str
    target_platform: str
    mode: str
    actor: str
    at: datetime
    note: str = ""

    def __post_init__(self) -> None:
        if self.mode not in TRANSFER_MODES:
            raise ValueError(f"transfer mode must be one of {TRANSFER_MODES}, not {self.mode!r}")
        super().__post_init__()

    def _natural_id(self) -> str:
        return f"{self.source_order_id}:transferred:{self.target_order_id}"

    @property
    def order_ref(self) -> str:
        return self.source_order_id


@dataclass(frozen=True, kw_only=True)
class NegotiationRecorded(OrderEvent):
    """Who pressed which key in a three-way call, and which platform took the case.

    `outcome` is the platform that agreed to take it; None means no agreement,
    and first-contact responsibility (首接负责制) leaves it with the order's platform.
    """

    kind: ClassVar[str] = "negotiation_recorded"
    order_id: str
    actor: str
    key: str
    at: datetime
    outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class TransferFailed(OrderEvent):
    kind: ClassVar[str] = "transfer_failed"
    order_id: str
    reason: str
    at: datetime
    target_platform: str | None = None
    actor: str = "system"


@dataclass(frozen=True, kw_only=True)
class SummaryUpdated(OrderEvent):
    """An agent added or changed the summary, category or level; None leaves a field as is."""

    kind: ClassVar[str] = "summary_updated"
    order_id: str
    actor: str
    at: datetime
    summary: str | None = None
    category: str | None = None
    level: str | None = None


@dataclass(frozen=True, kw_only=True)
class StatusChanged(OrderEvent):
    kind: ClassVar[str] = "status_changed"
    order_id: str
    to_status: str
    actor: str
    at: datetime
    note: str = ""
    outcome: str | None = None
    next_steps: str | None = None
    department: str | None = None


EVENT_TYPES: dict[str, type[OrderEvent]] = {
    cls.kind: cls
    for cls in (
        OrderOpened,
        OrderTransferred,
        NegotiationRecorded,
        TransferFailed,
        SummaryUpdated,
        StatusChanged,
    )
}
