"""Status: an order moves along the status table, its details change, the platform it
came from hears how it went (相互反馈), and return visits close the loop."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..categories import default_level
from ..errors import IllegalTransition, InvalidOrder
from ..events import StatusChanged, SummaryUpdated
from ..levels import ResponseLevel
from ..models import Order, ReturnVisit
from ..status import Status, check_transition
from .store import OrderStore, audit, get_order, move


class StatusFlow(OrderStore):
    async def _on_status(self, session: AsyncSession, e: StatusChanged) -> None:
        order = await get_order(session, e.order_id)
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
        await move(session, order, target, e.actor, e.at, note=e.note)
        await _feed_back(session, order, e)

    async def _on_summary(self, session: AsyncSession, e: SummaryUpdated) -> None:
        order = await get_order(session, e.order_id)
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
            await audit(session, order, "details", e.actor, e.at,
                        note="changed " + ", ".join(changes), data=changes)

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

    async def record_visit(
        self, order_id: str, actor: str, *, resolved: bool, satisfied: bool, note: str = ""
    ) -> None:
        """Record a return visit (回访); the first one moves the order from replied to visited."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            order = await get_order(session, order_id)
            if order.status == Status.REPLIED:
                await move(session, order, Status.VISITED, actor, now, note=note,
                           data={"resolved": resolved, "satisfied": satisfied})
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


async def _feed_back(session: AsyncSession, order: Order, e: StatusChanged) -> None:
    """Tell the platform the order came from how it went (相互反馈)."""
    if not order.source_order_id:
        return
    source = await get_order(session, order.source_order_id)
    await audit(
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
    actor = f"feedback:{order.order_id}"
    if order.status == Status.CLOSED:
        source.outcome = order.outcome
        await move(session, source, Status.CLOSED, actor, e.at,
                   note=f"closed by {order.platform} {order.order_id}")
    elif order.status == Status.REJECTED:
        await move(session, source, Status.RECEIVED, actor, e.at,
                   note=f"sent back by {order.platform} {order.order_id}: {e.note}")
