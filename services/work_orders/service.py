"""The work-order service: one place that changes orders, always through the status table.

Every change happens in one transaction together with its audit entry, and,
for events, with the event id that makes a replay a no-op. Agent operations
build the same events the controller emits, so there is a single code path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.privacy import mask_number

from .categories import DEFAULT_CATEGORIES, Category, default_level
from .errors import IllegalTransition, InvalidOrder, OrderNotFound, WorkOrderError
from .events import (
    NegotiationRecorded,
    OrderEvent,
    OrderOpened,
    OrderTransferred,
    StatusChanged,
    SummaryUpdated,
    TransferFailed,
)
from .exchange import (
    open311_request,
    open311_services,
    order_to_record,
    read_records,
    record_to_rows,
    write_csv,
    write_jsonl,
)
from .ids import PREFIXES, is_order_id, new_order_id, platform_of
from .levels import Calendar, ResponseLevel
from .models import AppliedEvent, AuditEntry, Order, OrderLink, ReturnVisit, SupervisionNotice
from .reports import (
    OrderFacts,
    RateRow,
    SupervisionPolicy,
    compute_rates,
    counted,
    first_reply,
    is_overdue,
)
from .status import WAITING, Status, check_transition
from .views import Role, ViewPolicy, render_view

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Runs after each event's handler, in its transaction: e.g. the dispatch suggestion.
AfterApply = Callable[[AsyncSession, OrderEvent], Awaitable[None]]
CHANNELS = ("phone", "online")
TRANSFER_LINKS = ("handover", "three_way", "online")
SYSTEM = "system"


def other_platform(platform: str) -> str:
    return "110" if platform == "12345" else "12345"


@dataclass(frozen=True)
class Notice:
    """A supervision notice (督办通知) issued for an overdue order."""

    order_id: str
    platform: str
    tier: int
    issued_at: datetime
    due_at: datetime
    department: str | None
    level: str
    region_code: str

    @property
    def escalated(self) -> bool:
        return self.tier > 1


@dataclass(frozen=True)
class BoardItem:
    """One overdue order on the supervisor board, at its highest tier so far."""

    order_id: str
    platform: str
    department: str | None
    region_code: str
    level: str
    status: str
    deadline_at: datetime
    tier: int
    overdue_by: timedelta


class WorkOrderService:
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
    ) -> None:
        self._sessions = session_factory
        self._after_apply = tuple(after_apply)
        self._clock = clock
        self.calendar = calendar
        self.supervision = supervision or SupervisionPolicy()
        self.views = views or ViewPolicy()
        self.categories = categories
        self._handlers: dict[type[OrderEvent], Callable[[AsyncSession, Any], Any]] = {
            OrderOpened: self._on_opened,
            OrderTransferred: self._on_transferred,
            NegotiationRecorded: self._on_negotiation,
            TransferFailed: self._on_transfer_failed,
            SummaryUpdated: self._on_summary,
            StatusChanged: self._on_status,
        }

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

    async def apply_many(self, events: Sequence[OrderEvent]) -> list[bool | WorkOrderError]:
        """Apply a batch in one transaction, each event in a savepoint of its own.

        One commit for the batch instead of one per event: the consumer's cost
        per event was mostly the transaction. An event the service refuses is
        rolled back alone and comes back as its error; a database error (or a
        concurrent consumer's duplicate) fails the whole batch, for a retry.
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

    async def _on_opened(self, session: AsyncSession, e: OrderOpened) -> None:
        if e.platform not in PREFIXES or platform_of(e.order_id) != e.platform:
            raise InvalidOrder("order id and platform disagree", order_id=e.order_id)
        if e.channel not in CHANNELS:
            raise InvalidOrder(f"channel must be one of {CHANNELS}", channel=e.channel)
        order = await self._find(session, e.order_id)
        if order is not None:
            # The transfer created this order first; the call's own details complete it.
            order.call_id = order.call_id or e.call_id
            order.suggestion = order.suggestion or e.suggestion
            order.citizen_number = order.citizen_number or e.citizen_number
            order.summary = order.summary or e.summary
            await self._audit(
                session,
                order,
                "details",
                SYSTEM,
                e.opened_at,
                note="call details attached",
                data={"call_id": e.call_id},
            )
            return
        level = ResponseLevel(e.level) if e.level else default_level(e.category, self.categories)
        order = Order(
            order_id=e.order_id,
            platform=e.platform,
            call_id=e.call_id,
            citizen_number=e.citizen_number or "",
            region_code=e.region_code,
            channel=e.channel,
            opened_at=e.opened_at,
            suggestion=e.suggestion,
            category=e.category,
            level=str(level),
            deadline_at=self.calendar.deadline(e.opened_at, level),
            summary=e.summary or "",
            status=Status.RECEIVED,
            updated_at=e.opened_at,
        )
        session.add(order)
        await self._audit(
            session,
            order,
            "status",
            SYSTEM,
            e.opened_at,
            to_status=Status.RECEIVED,
            note=f"opened via {e.channel}",
            data={"call_id": e.call_id},
        )
        log.info("order %s opened for %s", e.order_id, mask_number(e.citizen_number))

    async def _on_transferred(self, session: AsyncSession, e: OrderTransferred) -> None:
        source = await self._get(session, e.source_order_id)
        if (
            e.target_platform == source.platform
            or platform_of(e.target_order_id) != e.target_platform
        ):
            raise InvalidOrder("a transfer goes to the other platform", target=e.target_order_id)
        target = await self._find(session, e.target_order_id)
        if target is None:
            target = Order(
                order_id=e.target_order_id,
                platform=e.target_platform,
                call_id=None,
                citizen_number=source.citizen_number,
                region_code=source.region_code,
                channel="online" if e.mode == "online" else source.channel,
                opened_at=e.at,
                suggestion=source.suggestion,
                category=source.category,
                level=source.level,
                deadline_at=self.calendar.deadline(e.at, source.level),
                summary=source.summary,
                status=Status.RECEIVED,
                updated_at=e.at,
            )
            session.add(target)
            await self._audit(
                session,
                target,
                "status",
                e.actor,
                e.at,
                to_status=Status.RECEIVED,
                note=f"from {source.order_id} ({e.mode})",
            )
        target.source_order_id = target.source_order_id or source.order_id
        await self._move(
            session,
            source,
            Status.TRANSFERRED,
            e.actor,
            e.at,
            note=f"to {target.order_id} ({e.mode}) {e.note}".strip(),
            data={"target_order_id": target.order_id, "mode": e.mode},
        )
        session.add(
            OrderLink(
                source_order_id=source.order_id,
                target_order_id=target.order_id,
                kind=e.mode,
                actor=e.actor,
                created_at=e.at,
            )
        )

    async def _on_negotiation(self, session: AsyncSession, e: NegotiationRecorded) -> None:
        order = await self._get(session, e.order_id)
        taker, rule = (e.outcome, "agreed") if e.outcome else (order.platform, "first_contact")
        await self._audit(
            session,
            order,
            "negotiation",
            e.actor,
            e.at,
            note=f"key {e.key}: {taker} takes the case ({rule})",
            data={"key": e.key, "platform": taker, "rule": rule},
        )

    async def _on_transfer_failed(self, session: AsyncSession, e: TransferFailed) -> None:
        order = await self._get(session, e.order_id)
        await self._audit(
            session,
            order,
            "transfer_failed",
            e.actor,
            e.at,
            note=e.reason,
            data={"target_platform": e.target_platform},
        )

    async def _on_summary(self, session: AsyncSession, e: SummaryUpdated) -> None:
        order = await self._get(session, e.order_id)
        changes: dict[str, list[Any]] = {}
        level = e.level
        # A new category brings its level, unless an agent had set the level by hand.
        follows_category = order.level == default_level(order.category, self.categories)
        if level is None and e.category not in (None, order.category) and follows_category:
            level = str(default_level(e.category, self.categories))
        for name, value in (("summary", e.summary), ("category", e.category), ("level", level)):
            if value is not None and value != getattr(order, name):
                changes[name] = [getattr(order, name), value]
                setattr(order, name, value)
        if "level" in changes:
            order.deadline_at = self.calendar.deadline(order.opened_at, ResponseLevel(order.level))
            changes["deadline_at"] = [None, order.deadline_at.isoformat()]
        if changes:
            order.updated_at = e.at
            await self._audit(
                session,
                order,
                "details",
                e.actor,
                e.at,
                note="changed " + ", ".join(changes),
                data=changes,
            )

    async def _on_status(self, session: AsyncSession, e: StatusChanged) -> None:
        order = await self._get(session, e.order_id)
        target = Status(e.to_status)
        check_transition(order.status, target)
        if target is Status.ASSIGNED and not (e.department or order.department):
            raise InvalidOrder("assigning needs a department", order_id=order.order_id)
        if (
            target is Status.REPLIED
            and order.level == ResponseLevel.COMPLEX
            and not (e.next_steps or order.next_steps)
        ):
            raise InvalidOrder(
                "a complex order's reply must give the next steps", order_id=order.order_id
            )
        order.department = e.department or order.department
        order.outcome = e.outcome or order.outcome
        order.next_steps = e.next_steps or order.next_steps
        await self._move(session, order, target, e.actor, e.at, note=e.note)
        await self._feed_back(session, order, e)

    async def _feed_back(self, session: AsyncSession, order: Order, e: StatusChanged) -> None:
        """Tell the platform the order came from how it went (相互反馈)."""
        if not order.source_order_id:
            return
        source = await self._get(session, order.source_order_id)
        await self._audit(
            session,
            source,
            "feedback",
            f"{order.platform}:{order.order_id}",
            e.at,
            note=f"{order.order_id} is {order.status}",
            data={"order_id": order.order_id, "status": order.status, "outcome": order.outcome},
        )
        if source.status != Status.TRANSFERRED:
            return
        if order.status == Status.CLOSED:
            source.outcome = order.outcome
            await self._move(
                session,
                source,
                Status.CLOSED,
                f"feedback:{order.order_id}",
                e.at,
                note=f"closed by {order.platform} {order.order_id}",
            )
        elif order.status == Status.REJECTED:
            await self._move(
                session,
                source,
                Status.RECEIVED,
                f"feedback:{order.order_id}",
                e.at,
                note=f"sent back by {order.platform} {order.order_id}: {e.note}",
            )

    # -- agent operations ----------------------------------------------------------------

    async def transition(
        self,
        order_id: str,
        to_status: Status | str,
        actor: str,
        *,
        note: str = "",
        outcome: str | None = None,
        next_steps: str | None = None,
        department: str | None = None,
    ) -> None:
        """Move an order along the status table; IllegalTransition if the table forbids it."""
        await self.apply(
            StatusChanged(
                order_id=order_id,
                to_status=str(Status(to_status)),
                actor=actor,
                at=self._clock(),
                note=note,
                outcome=outcome,
                next_steps=next_steps,
                department=department,
            )
        )

    async def assign(self, order_id: str, department: str, actor: str, note: str = "") -> None:
        await self.transition(order_id, Status.ASSIGNED, actor, note=note, department=department)

    async def update_details(
        self,
        order_id: str,
        actor: str,
        *,
        summary: str | None = None,
        category: str | None = None,
        level: ResponseLevel | str | None = None,
    ) -> None:
        """Add or change the summary, category or response level; the deadline follows the level."""
        await self.apply(
            SummaryUpdated(
                order_id=order_id,
                actor=actor,
                at=self._clock(),
                summary=summary,
                category=category,
                level=str(ResponseLevel(level)) if level else None,
            )
        )

    async def transfer(self, order_id: str, mode: str, actor: str, note: str = "") -> str:
        """Open the linked order on the other platform; returns its id."""
        now = self._clock()
        async with self._sessions() as session:
            source = await self._get(session, order_id, lock=False)
        target_platform = other_platform(source.platform)
        target_id = new_order_id(target_platform, now.astimezone(self.calendar.tz))
        await self.apply(
            OrderTransferred(
                source_order_id=order_id,
                target_order_id=target_id,
                target_platform=target_platform,
                mode=mode,
                actor=actor,
                at=now,
                note=note,
            )
        )
        return target_id

    async def submit_online(
        self,
        platform: str,
        *,
        citizen_number: str,
        region_code: str,
        summary: str,
        category: str | None = None,
        level: ResponseLevel | str | None = None,
        suggestion: dict[str, Any] | None = None,
    ) -> str:
        """Open an order for a request received online (在线受理); returns its id."""
        now = self._clock()
        order_id = new_order_id(platform, now.astimezone(self.calendar.tz))
        await self.apply(
            OrderOpened(
                order_id=order_id,
                platform=platform,
                call_id=None,
                citizen_number=citizen_number,
                region_code=region_code,
                channel="online",
                opened_at=now,
                suggestion=suggestion,
                category=category,
                level=str(level) if level else None,
                summary=summary,
            )
        )
        return order_id

    async def forward_online(self, order_id: str, actor: str, note: str = "") -> str:
        """Hand an order to the other platform as a linked order (在线转交)."""
        return await self.transfer(order_id, "online", actor, note)

    async def mark_duplicate(self, order_id: str, of_order_id: str, actor: str) -> None:
        """Close a repeat call's order as a duplicate of the order that handles the matter."""
        await self._fold(order_id, of_order_id, actor, "duplicate")

    async def merge(self, into_order_id: str, order_ids: Iterable[str], actor: str) -> None:
        """Fold repeat orders about the same matter into one; each is closed with a link."""
        for order_id in order_ids:
            await self._fold(order_id, into_order_id, actor, "merged")

    async def _fold(self, order_id: str, main_id: str, actor: str, kind: str) -> None:
        if order_id == main_id:
            raise InvalidOrder("an order cannot be folded into itself", order_id=order_id)
        now = self._clock()
        async with self._sessions() as session, session.begin():
            main = await self._get(session, main_id)
            if main.merged_into or main.duplicate_of:
                raise InvalidOrder("fold into the main order, not into a repeat", order_id=main_id)
            order = await self._get(session, order_id)
            if kind == "duplicate":
                order.duplicate_of = main_id
            else:
                order.merged_into = main_id
            await self._move(
                session,
                order,
                Status.CLOSED,
                actor,
                now,
                note=f"{kind} of {main_id}",
                data={kind: main_id},
            )
            await self._audit(
                session,
                main,
                "details",
                actor,
                now,
                note=f"{order_id} folded in ({kind})",
                data={kind: order_id},
            )
            session.add(
                OrderLink(
                    source_order_id=order_id,
                    target_order_id=main_id,
                    kind=kind,
                    actor=actor,
                    created_at=now,
                )
            )

    async def record_visit(
        self, order_id: str, actor: str, *, resolved: bool, satisfied: bool, note: str = ""
    ) -> None:
        """Record a return visit (回访); the first one moves the order from replied to visited."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            order = await self._get(session, order_id)
            if order.status == Status.REPLIED:
                await self._move(
                    session,
                    order,
                    Status.VISITED,
                    actor,
                    now,
                    note=note,
                    data={"resolved": resolved, "satisfied": satisfied},
                )
            elif order.status != Status.VISITED:
                raise IllegalTransition(
                    "a return visit needs a replied order",
                    current=order.status,
                    target=str(Status.VISITED),
                    allowed=[],
                )
            session.add(
                ReturnVisit(
                    order_id=order_id,
                    visited_at=now,
                    actor=actor,
                    resolved=resolved,
                    satisfied=satisfied,
                    note=note,
                )
            )

    # -- supervision ---------------------------------------------------------------------

    async def supervise(self, now: datetime | None = None) -> list[Notice]:
        """Issue the supervision notices (督办) that are due; returns only the new ones."""
        now = now or self._clock()
        if self.calendar.paused_at(now):
            return []
        issued: list[Notice] = []
        try:
            async with self._sessions() as session, session.begin():
                overdue = (
                    await session.scalars(
                        select(Order).where(
                            Order.status.in_([str(s) for s in WAITING]), Order.deadline_at < now
                        )
                    )
                ).all()
                facts = await self._facts(session, overdue)
                known = await self._notice_tiers(session, [o.order_id for o in overdue])
                for order in overdue:
                    if not is_overdue(facts[order.order_id], now):
                        continue
                    for tier in self.supervision.tiers_due(
                        self.calendar, order.level, order.deadline_at, now
                    ):
                        if tier in known.get(order.order_id, ()):
                            continue
                        issued.append(await self._issue(session, order, tier, now))
        except IntegrityError:
            log.info("another supervisor issued these notices first")
            return []
        return issued

    async def _issue(self, session: AsyncSession, order: Order, tier: int, now: datetime) -> Notice:
        due = self.supervision.tier_due(self.calendar, order.level, order.deadline_at, tier)
        session.add(
            SupervisionNotice(
                order_id=order.order_id,
                tier=tier,
                issued_at=now,
                due_at=due,
                department=order.department,
            )
        )
        await self._audit(
            session,
            order,
            "supervision",
            "supervision",
            now,
            note=("督办" if tier == 1 else f"督办 escalated to tier {tier}"),
            data={"tier": tier, "deadline_at": order.deadline_at.isoformat()},
        )
        log.info("supervision notice tier %d for %s (%s)", tier, order.order_id, order.department)
        return Notice(
            order.order_id,
            order.platform,
            tier,
            now,
            due,
            order.department,
            order.level,
            order.region_code,
        )

    async def board(self, now: datetime | None = None) -> list[BoardItem]:
        """Orders with supervision notices that still wait for their reply, worst first."""
        now = now or self._clock()
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Order, func.max(SupervisionNotice.tier))
                    .join(SupervisionNotice, SupervisionNotice.order_id == Order.order_id)
                    .where(Order.status.in_([str(s) for s in WAITING]))
                    .group_by(Order.order_id)
                )
            ).all()
        items = [
            BoardItem(
                o.order_id,
                o.platform,
                o.department,
                o.region_code,
                o.level,
                o.status,
                o.deadline_at,
                tier,
                now - o.deadline_at,
            )
            for o, tier in rows
        ]
        return sorted(items, key=lambda i: (-i.tier, -i.overdue_by, i.order_id))

    # -- reports and views ---------------------------------------------------------------

    async def rates(
        self,
        *,
        by: Sequence[str] = ("department",),
        period: str = "month",
        since: datetime | None = None,
        until: datetime | None = None,
        platform: str | None = None,
    ) -> list[RateRow]:
        """Response, resolution and satisfaction rates per department, region and/or period."""
        async with self._sessions() as session:
            query = select(Order)
            if since:
                query = query.where(Order.opened_at >= since)
            if until:
                query = query.where(Order.opened_at < until)
            if platform:
                query = query.where(Order.platform == platform)
            orders = (await session.scalars(query)).all()
            facts = await self._facts(session, orders, with_visits=True)
        return compute_rates(
            facts.values(), by=by, period=period, tz=self.calendar.tz, now=self._clock()
        )

    async def overdue(self, order_id: str, now: datetime | None = None) -> bool:
        async with self._sessions() as session:
            order = await self._get(session, order_id, lock=False)
            facts = await self._facts(session, [order])
        return is_overdue(facts[order_id], now or self._clock())

    async def record(self, order_id: str) -> dict[str, Any]:
        """The full exchange record of an order (schema order.v1), number unmasked."""
        async with self._sessions() as session:
            order = await self._get(session, order_id, lock=False)
            return (await self._records(session, [order]))[0]

    async def view(self, order_id: str, role: Role | str) -> dict[str, Any]:
        """What `role` may see of an order: masked number, or link and feedback only."""
        async with self._sessions() as session:
            order = await self._get(session, order_id, lock=False)
            record = (await self._records(session, [order]))[0]
            record["linked"] = await self._linked(session, order_id)
            facts = await self._facts(session, [order])
        record["overdue"] = is_overdue(facts[order_id], self._clock())
        return render_view(record, Role(role), self.views)

    async def list_orders(
        self,
        *,
        status: str | None = None,
        platform: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Order summaries, newest first, with masked numbers."""
        async with self._sessions() as session:
            query = select(Order).order_by(Order.opened_at.desc(), Order.order_id)
            if status:
                query = query.where(Order.status == str(Status(status)))
            if platform:
                query = query.where(Order.platform == platform)
            orders = (await session.scalars(query.limit(limit).offset(offset))).all()
        return [
            {
                "order_id": o.order_id,
                "platform": o.platform,
                "status": o.status,
                "level": o.level,
                "category": o.category,
                "department": o.department,
                "opened_at": o.opened_at,
                "deadline_at": o.deadline_at,
                "citizen": mask_number(o.citizen_number),
            }
            for o in orders
        ]

    async def count_orders(self, platform: str | None = None) -> int:
        """How many orders (of one platform) there are."""
        async with self._sessions() as session:
            query = select(func.count()).select_from(Order)
            if platform:
                query = query.where(Order.platform == platform)
            return int(await session.scalar(query) or 0)

    async def iter_records(self, batch: int = 200,
                           platform: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every order (of one platform) as an exchange record, in a stable order, a batch
        at a time."""
        after = ""
        while True:
            async with self._sessions() as session:
                query = select(Order).where(Order.order_id > after)
                if platform:
                    query = query.where(Order.platform == platform)
                orders = (
                    await session.scalars(query.order_by(Order.order_id).limit(batch))
                ).all()
                if not orders:
                    return
                records = await self._records(session, orders)
            for record in records:
                yield record
            after = orders[-1].order_id

    async def import_records(self, records: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Load exchange records; existing orders and entries are kept, so re-imports add nothing."""
        counts = {"orders": 0, "skipped": 0, "entries": 0}
        links: list[OrderLink] = []
        async with self._sessions() as session, session.begin():
            for record in records:
                rows = record_to_rows(record)
                if await session.get(Order, rows.order.order_id) is None:
                    session.add(rows.order)
                    counts["orders"] += 1
                else:
                    counts["skipped"] += 1
                await session.flush()
                counts["entries"] += await self._add_missing(session, rows)
                links.extend(rows.links)
            await session.flush()
            for link in links:
                exists = await session.scalar(
                    select(OrderLink.id).where(
                        OrderLink.source_order_id == link.source_order_id,
                        OrderLink.target_order_id == link.target_order_id,
                        OrderLink.kind == link.kind,
                    )
                )
                if exists is None:
                    session.add(link)
                    counts["entries"] += 1
        return counts

    async def export(self, stream: IO[str], fmt: str = "jsonl") -> int:
        """Write every order to `stream` as JSONL or CSV; returns how many."""
        if fmt == "jsonl":
            return await write_jsonl(self.iter_records(), stream)
        if fmt == "csv":
            return await write_csv(self.iter_records(), stream)
        raise ValueError(f"format must be jsonl or csv, not {fmt!r}")

    async def import_stream(self, stream: IO[str], fmt: str = "jsonl") -> dict[str, int]:
        return await self.import_records(read_records(stream, fmt))

    def open311_services(self) -> list[dict[str, Any]]:
        return open311_services(self.categories)

    async def open311_requests(
        self,
        *,
        ids: Sequence[str] | None = None,
        service_code: str | None = None,
        status: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """GeoReport v2 service requests; `expected_datetime` is the order's deadline."""
        async with self._sessions() as session:
            query = select(Order).order_by(Order.opened_at.desc(), Order.order_id)
            if ids:
                query = query.where(Order.order_id.in_(list(ids)))
            if service_code:
                query = query.where(Order.category == service_code)
            if start:
                query = query.where(Order.opened_at >= start)
            if end:
                query = query.where(Order.opened_at < end)
            orders = (await session.scalars(query.limit(limit))).all()
            records = await self._records(session, orders)
        requests = [open311_request(r, self.calendar.tz, self.categories) for r in records]
        return [r for r in requests if status is None or r["status"] == status]

    async def _add_missing(self, session: AsyncSession, rows: Any) -> int:
        order_id = rows.order.order_id
        added = 0
        seqs = set(
            (
                await session.scalars(select(AuditEntry.seq).where(AuditEntry.order_id == order_id))
            ).all()
        )
        for entry in rows.history:
            if entry.seq not in seqs:
                session.add(entry)
                added += 1
        visits = {
            (v.visited_at, v.actor)
            for v in (
                await session.scalars(select(ReturnVisit).where(ReturnVisit.order_id == order_id))
            ).all()
        }
        for visit in rows.visits:
            if (visit.visited_at, visit.actor) not in visits:
                session.add(visit)
                added += 1
        tiers = set(
            (
                await session.scalars(
                    select(SupervisionNotice.tier).where(SupervisionNotice.order_id == order_id)
                )
            ).all()
        )
        for notice in rows.notices:
            if notice.tier not in tiers:
                session.add(notice)
                added += 1
        return added

    # -- helpers ---------------------------------------------------------------------------

    async def _find(
        self, session: AsyncSession, order_id: str, *, lock: bool = True
    ) -> Order | None:
        query = select(Order).where(Order.order_id == order_id)
        # Row lock on PostgreSQL so two writers of one order queue up; SQLite ignores it.
        return await session.scalar(query.with_for_update() if lock else query)

    async def _get(self, session: AsyncSession, order_id: str, *, lock: bool = True) -> Order:
        order = await self._find(session, order_id, lock=lock)
        if order is None:
            raise OrderNotFound(
                f"no order {order_id}", order_id=order_id, valid_id=is_order_id(order_id)
            )
        return order

    async def _move(
        self,
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
        await self._audit(
            session,
            order,
            "status",
            actor,
            at,
            from_status=current,
            to_status=target,
            note=note,
            data=data,
        )
        log.info("order %s: %s -[%s]-> %s", order.order_id, current, actor, target)

    async def _audit(
        self,
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

    async def _facts(
        self, session: AsyncSession, orders: Sequence[Order], *, with_visits: bool = False
    ) -> dict[str, OrderFacts]:
        ids = [o.order_id for o in orders]
        replies: dict[str, list[tuple[datetime, str]]] = {}
        visits: dict[str, ReturnVisit] = {}
        for chunk in _chunks(ids):
            for order_id, at, to_status in (
                await session.execute(
                    select(AuditEntry.order_id, AuditEntry.at, AuditEntry.to_status).where(
                        AuditEntry.order_id.in_(chunk),
                        AuditEntry.kind == "status",
                        AuditEntry.to_status == Status.REPLIED,
                    )
                )
            ).all():
                replies.setdefault(order_id, []).append((at, to_status or ""))
            if with_visits:
                for visit in (
                    await session.scalars(
                        select(ReturnVisit)
                        .where(ReturnVisit.order_id.in_(chunk))
                        .order_by(ReturnVisit.visited_at, ReturnVisit.id)
                    )
                ).all():
                    visits[visit.order_id] = visit  # the latest visit wins
        facts = {}
        for o in orders:
            latest = visits.get(o.order_id)
            facts[o.order_id] = OrderFacts(
                order_id=o.order_id,
                platform=o.platform,
                department=o.department,
                region_code=o.region_code,
                level=o.level,
                opened_at=o.opened_at,
                deadline_at=o.deadline_at,
                status=o.status,
                first_reply_at=first_reply(replies.get(o.order_id, ())),
                counted=counted(o.status, o.merged_into, o.duplicate_of),
                visit_resolved=latest.resolved if latest else None,
                visit_satisfied=latest.satisfied if latest else None,
            )
        return facts

    async def _notice_tiers(self, session: AsyncSession, ids: list[str]) -> dict[str, set[int]]:
        tiers: dict[str, set[int]] = {}
        for chunk in _chunks(ids):
            for order_id, tier in (
                await session.execute(
                    select(SupervisionNotice.order_id, SupervisionNotice.tier).where(
                        SupervisionNotice.order_id.in_(chunk)
                    )
                )
            ).all():
                tiers.setdefault(order_id, set()).add(tier)
        return tiers

    async def _records(
        self, session: AsyncSession, orders: Sequence[Order]
    ) -> list[dict[str, Any]]:
        ids = [o.order_id for o in orders]
        history = await _grouped(session, ids, AuditEntry.order_id, AuditEntry.seq)
        links = await _grouped(session, ids, OrderLink.source_order_id, OrderLink.id)
        visits = await _grouped(session, ids, ReturnVisit.order_id, ReturnVisit.visited_at,
                                ReturnVisit.id)
        notices = await _grouped(session, ids, SupervisionNotice.order_id,
                                 SupervisionNotice.tier)
        return [
            order_to_record(
                o,
                history.get(o.order_id, []),
                links.get(o.order_id, []),
                visits.get(o.order_id, []),
                notices.get(o.order_id, []),
            )
            for o in orders
        ]

    async def _linked(self, session: AsyncSession, order_id: str) -> list[dict[str, Any]]:
        """Orders linked either way, with their live status and outcome."""
        rows = (
            await session.execute(
                select(OrderLink, Order)
                .join(
                    Order,
                    or_(
                        and_(
                            OrderLink.target_order_id == Order.order_id,
                            OrderLink.source_order_id == order_id,
                        ),
                        and_(
                            OrderLink.source_order_id == Order.order_id,
                            OrderLink.target_order_id == order_id,
                        ),
                    ),
                )
                .order_by(OrderLink.id)
            )
        ).all()
        return [
            {
                "order_id": other.order_id,
                "platform": other.platform,
                "kind": link.kind,
                "direction": "to" if link.source_order_id == order_id else "from",
                "status": other.status,
                "outcome": other.outcome,
                "updated_at": other.updated_at.isoformat(),
            }
            for link, other in rows
        ]


def _chunks(ids: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def _grouped(session: AsyncSession, ids: list[str], key: Any, *order_by: Any
                   ) -> dict[str, list[Any]]:
    """Rows whose `key` column is one of `ids`, grouped by it, in `order_by` order."""
    entity = key.class_
    grouped: dict[str, list[Any]] = {}
    for chunk in _chunks(ids):
        rows = await session.scalars(select(entity).where(key.in_(chunk)).order_by(*order_by))
        for row in rows.all():
            grouped.setdefault(getattr(row, key.key), []).append(row)
    return grouped
