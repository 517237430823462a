"""Call-log events: facts about a call as the controller saw them, in the order it saw them.

They are order events in form (`OrderEvent`: a stable `event_id`, JSON on the outbox
stream), so they share the outbox, its spool and the consumer's exactly-once application.
Importing this module registers their kinds with the event decoder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from services.privacy import mask_number
from services.work_orders.events import EVENT_TYPES, OrderEvent


@dataclass(frozen=True, kw_only=True)
class CallLogEvent(OrderEvent):
    """About one call (`call_id`), not about an order: `order_ref` is empty, so the
    applied-events table does not tie it to an order."""

    call_id: str

    @property
    def order_ref(self) -> str:
        return ""


@dataclass(frozen=True, kw_only=True)
class CallArrivalLogged(CallLogEvent):
    """A citizen's call (or, `via_trunk`, a hand-over from the other platform) arrived."""

    kind: ClassVar[str] = "call_log_arrived"
    site: str
    platform: str
    origin_site: str
    via_trunk: bool
    citizen_number: str = field(repr=False)
    order_id: str
    linked_order_id: str
    at: datetime

    def _natural_id(self) -> str:
        return f"call:{self.call_id}:arrived"

    def __repr__(self) -> str:
        return (f"CallArrivalLogged(call_id={self.call_id!r}, site={self.site!r}, "
                f"citizen={mask_number(self.citizen_number)!r}, order_id={self.order_id!r})")


@dataclass(frozen=True, kw_only=True)
class CallStepLogged(CallLogEvent):
    """One thing the call did: a seat answered or failed, a transfer started, completed
    or failed, a three-way was joined or settled, a party left, the citizen gave up.
    `step` names it (the controller's notice kinds); `detail` holds its particulars."""

    kind: ClassVar[str] = "call_log_step"
    step: str
    at: datetime
    seat: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CallEndLogged(CallLogEvent):
    """The call is over. `by` is who left first (citizen, agent, target), or `system`
    (refused, ended while the controller was away); `taken_by` the platform with the case."""

    kind: ClassVar[str] = "call_log_ended"
    at: datetime
    by: str
    state: str
    taken_by: str | None = None

    def _natural_id(self) -> str:
        return f"call:{self.call_id}:ended"


CALL_LOG_EVENTS: tuple[type[OrderEvent], ...] = (CallArrivalLogged, CallStepLogged, CallEndLogged)
EVENT_TYPES.update({cls.kind: cls for cls in CALL_LOG_EVENTS})
