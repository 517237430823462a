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

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..categories import DEFAULT_CATEGORIES, Category
from ..events import (
    NegotiationRecorded,
    OrderOpened,
    OrderTransferred,
    StatusChanged,
    SummaryUpdated,
    TransferFailed,
)
from ..exchange import CHANNELS
from ..levels import Calendar
from ..reports import SupervisionPolicy
from ..views import ViewPolicy
from .intake import Intake
from .links import TRANSFER_LINKS, Links
from .reporting import Reporting
from .status_flow import StatusFlow
from .store import SYSTEM, Clock, other_platform
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


class WorkOrderService(Intake, StatusFlow, Links, Supervising, Reporting):
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        calendar: Calendar,
        *,
        supervision: SupervisionPolicy | None = None,
        views: ViewPolicy | None = None,
        categories: tuple[Category, ...] = DEFAULT_CATEGORIES,
    ) -> None:
        super().__init__(session_factory, clock, calendar, supervision=supervision,
                         views=views, categories=categories)
        # Every event the controller emits, and the one place that applies it.
        self._handlers = {
            OrderOpened: self._on_opened,
            OrderTransferred: self._on_transferred,
            NegotiationRecorded: self._on_negotiation,
            TransferFailed: self._on_transfer_failed,
            SummaryUpdated: self._on_summary,
            StatusChanged: self._on_status,
        }
