"""What every part of the work-order service shares: the session factory, the clock,
the exactly-once event application, and the few writes every change goes through
(find an order, move it along the status table, audit it, open a new one)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from ..categories import DEFAULT_CATEGORIES, Category
from ..errors import OrderNotFound, WorkOrderError
from ..events import OrderEvent
from ..ids import is_order_id
from ..levels import Calendar, ResponseLevel
from ..models import AppliedEvent, AuditEntry, Order
from ..reports import SupervisionPolicy
from ..status import Status, check_transition
from ..views import ViewPolicy

log = logging.getLogger("services.work_orders.service")

Clock = Callable[[], datetime]
# Runs after each event's handler, in its transaction: e.g. the dispatch suggestion.
AfterApply = Callable[[AsyncSession, OrderEvent], Awaitable[None]]
# The same for the consumer's Core batches (batch_events.py): once per batch, after its
# rows are written, with the events applied and the orders as the batch left them.
AfterBatch = Callable[[AsyncConnection, Sequence[OrderEvent], Mapping[str, Any]], Awaitable[None]]
EventTable = dict[type[OrderEvent], Callable[[AsyncSession, Any], Any]]
SYSTEM = "system"


def other_platform(platform: str) -> str:
    return "110" if platform == "12345" else "12345"


class OrderStore:
    """The state and the writes the service's parts (intake, status, links,
    supervision, reports) have in common."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        calendar: Calendar,
        *,
        supervision: SupervisionPolicy | None = None,
        views: ViewPolicy | None = None,
        categories: tuple[Category, ...] = DEFAULT_CATEGORIES,
        after_apply: Sequence[AfterApply] = (),
        after_batch: Sequence[AfterBatch] = (),
    ) -> None:
        self._sessions = session_factory
        self._after_apply = tuple(after_apply)
        self._after_batch = tuple(after_batch)
        self._clock = clock
        self.calendar = calendar
        self.supervision = supervision or SupervisionPolicy()
        self.views = views or ViewPolicy()
        self.categories = categories
        self._handlers = self._event_table()

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        """For the read-side queries kept in their own modules (search.py)."""
        return self._sessions

    def now(self) -> datetime:
        return self._clock()

    def _event_table(self) -> EventTable:
        """Which handler applies which event (the service's parts together say)."""
        return {}

    # -- events -------------------------------------------------------------------------

    async def apply(self, event: OrderEvent) -> bool:
        """Apply one event exactly once; False when its id was applied before."""
        try:
            async with self._sessions() as session, session.begin():
                return await self._apply_in(session, event)
        except IntegrityError:
            # A concurrent consumer applied the same event first: that is success.
            if await self.was_applied(event.event_id):
                return False
            raise

    async def apply_many_orm(self, events: Sequence[OrderEvent]) -> list[bool | WorkOrderError]:
        """Apply a batch through the ORM, in one transaction, each event in a savepoint.

        The consumer's path is `CoreApply.apply_many` (batch_events.py); this one
        applies the kinds without a Core handler, and is the benchmark's baseline.
        An event the service refuses is rolled back alone and comes back as its
        error; a database error (or a concurrent consumer's duplicate) fails the
        whole batch, for a retry.
        """
        results: list[bool | WorkOrderError] = []
        async with self._sessions() as session, session.begin():
            for event in events:
                try:
                    async with session.begin_nested():
                        results.append(await self._apply_in(session, event))
                except WorkOrderError as exc:
                    session.info.pop("audit_seq", None)   # re-read after the rollback
                    results.append(exc)
        return results

    async def _apply_in(self, session: AsyncSession, event: OrderEvent) -> bool:
        if await session.get(AppliedEvent, event.event_id) is not None:
            return False
        await self._handlers[type(event)](session, event)
        for hook in self._after_apply:   # e.g. the dispatch suggestion (services/dispatch)
            await hook(session, event)
        session.add(
            AppliedEvent(
                event_id=event.event_id,
                kind=event.kind,
                order_id=event.order_ref or None,
                applied_at=self._clock(),
            )
        )
        await session.flush()   # inside the savepoint, so a failure rolls back only this event
        return True

    async def was_applied(self, event_id: str) -> bool:
        async with self._sessions() as session:
            return await session.get(AppliedEvent, event_id) is not None

    # -- the writes every change goes through ---------------------------------------------

    async def _open(
        self,
        session: AsyncSession,
        actor: str,
        *,
        level: ResponseLevel | str,
        note: str,
        data: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Order:
        """Add a new order, received now, with its deadline from `level` and its first
        audit entry."""
        at: datetime = fields["opened_at"]
        order = Order(
            **fields,
            level=str(level),
            deadline_at=self.calendar.deadline(at, level),
            status=Status.RECEIVED,
            updated_at=at,
        )
        session.add(order)
        await audit(session, order, "status", actor, at, to_status=Status.RECEIVED,
                     note=note, data=data)
        return order


async def find_order(session: AsyncSession, order_id: str, *, lock: bool = True) -> Order | None:
    query = select(Order).where(Order.order_id == order_id)
    # Row lock on PostgreSQL so two writers of one order queue up; SQLite ignores it.
    return await session.scalar(query.with_for_update() if lock else query)


async def get_order(session: AsyncSession, order_id: str, *, lock: bool = True) -> Order:
    order = await find_order(session, order_id, lock=lock)
    if order is None:
        raise OrderNotFound(
            f"no order {order_id}", order_id=order_id, valid_id=is_order_id(order_id)
        )
    return order


async def move(
    session: AsyncSession,
    order: Order,
    target: Status,
    actor: str,
    at: datetime,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    current = Status(order.status)
    check_transition(current, target)
    order.status = str(target)
    order.updated_at = at
    await audit(session, order, "status", actor, at, from_status=current, to_status=target,
                 note=note, data=data)
    log.info("order %s: %s -[%s]-> %s", order.order_id, current, actor, target)


async def audit(
    session: AsyncSession,
    order: Order,
    kind: str,
    actor: str,
    at: datetime,
    *,
    from_status: Status | None = None,
    to_status: Status | None = None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    # Next seq per order, read once per transaction (the order row is locked).
    seqs: dict[str, int] = session.info.setdefault("audit_seq", {})
    if order.order_id not in seqs:
        await session.flush()
        seqs[order.order_id] = (
            await session.scalar(
                select(func.coalesce(func.max(AuditEntry.seq), 0)).where(
                    AuditEntry.order_id == order.order_id
                )
            )
            or 0
        )
    seqs[order.order_id] += 1
    session.add(
        AuditEntry(
            order_id=order.order_id,
            seq=seqs[order.order_id],
            kind=kind,
            actor=actor,
            at=at,
            from_status=str(from_status) if from_status else None,
            to_status=str(to_status) if to_status else None,
            note=note,
            data=data,
        )
    )

