"""Supervision: notices (督办) for overdue orders, tier by tier, and the board of the
orders that still wait for their reply."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Order, SupervisionNotice
from ..reports import is_overdue
from ..status import WAITING
from . import queries
from .store import OrderStore, audit

log = logging.getLogger("services.work_orders.service")


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


class Supervising(OrderStore):
    async def supervise(self, now: datetime | None = None) -> list[Notice]:
        """Issue the supervision notices (督办) that are due; returns only the new ones."""
        now = now or self._clock()
        if self.calendar.paused_at(now):
            return []
        try:
            async with self._sessions() as session, session.begin():
                return await self._issue_due(session, now)
        except IntegrityError:
            log.info("another supervisor issued these notices first")
            return []

    async def _issue_due(self, session: AsyncSession, now: datetime) -> list[Notice]:
        overdue = (
            await session.scalars(
                select(Order).where(
                    Order.status.in_([str(s) for s in WAITING]), Order.deadline_at < now
                )
            )
        ).all()
        facts = await queries.facts(session, overdue)
        known = await queries.notice_tiers(session, [o.order_id for o in overdue])
        issued: list[Notice] = []
        for order in overdue:
            if not is_overdue(facts[order.order_id], now):
                continue
            for tier in self.supervision.tiers_due(
                self.calendar, order.level, order.deadline_at, now
            ):
                if tier not in known.get(order.order_id, ()):
                    issued.append(await self._issue(session, order, tier, now))
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
        await audit(
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
