"""The work-order service: one place that changes orders, always through the status table.

Every change happens in one transaction together with its audit entry, and,
for events, with the event id that makes a replay a no-op. Agent operations
build the same events the controller emits, so there is a single code path.

Split by job: `intake` (orders come in), `status_flow` (they move along the
status table), `links` (they pass to the other platform or fold into another
order), `supervising` (overdue orders get notices) and `reporting` (rates, views,
exports); `store` holds what all of them share.
"""

from __future__ import annotations

from services.call_log.apply import EVENT_HANDLERS as CALL_LOG_HANDLERS

from ..events import (
    NegotiationRecorded,
    OrderOpened,
    OrderTransferred,
    StatusChanged,
    SummaryUpdated,
    TransferFailed,
)
from ..exchange import CHANNELS
from .batch_events import CoreApply
from .intake import Intake
from .links import TRANSFER_LINKS, Links
from .reporting import Reporting
from .status_flow import StatusFlow
from .store import SYSTEM, Clock, EventTable, other_platform
from .supervising import BoardItem, Notice, Supervising

__all__ = [
    "CHANNELS",
    "SYSTEM",
    "TRANSFER_LINKS",
    "BoardItem",
    "Clock",
    "Notice",
    "WorkOrderService",
    "other_platform",
]


class WorkOrderService(CoreApply, Intake, StatusFlow, Links, Supervising, Reporting):
    def _event_table(self) -> EventTable:
        """Every event the controller emits, and the one place that applies it."""
        return {
            OrderOpened: self._on_opened,
            OrderTransferred: self._on_transferred,
            NegotiationRecorded: self._on_negotiation,
            TransferFailed: self._on_transfer_failed,
            SummaryUpdated: self._on_summary,
            StatusChanged: self._on_status,
            **CALL_LOG_HANDLERS,   # the call log rides the same outbox (services/call_log)
        }
