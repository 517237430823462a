"""One dispatch step's checks and records, in the caller's transaction: the order row
locked, the flow table's step allowed for who acts, and the step written to the dispatch
log and to the order's own audit history (so it shows wherever the order's history does)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.flow import Action, Actor, State, Step, step
from services.dispatch.models import DispatchStep, OrderDispatch
from services.work_orders.errors import AccessDenied, InvalidOrder, OrderNotFound
from services.work_orders.ids import is_order_id
from services.work_orders.models import AuditEntry, Order

AUDIT_KIND = "dispatch"
SEQ_KEY = "audit_seq"      # WorkOrderService's per-session cache of each order's last seq


class NotYourOrder(AccessDenied):
    error_id = "not_your_order"


async def locked_order(session: AsyncSession, order_id: str) -> Order:
    # Row lock on PostgreSQL, as the work-order service takes it: writers of one order queue.
    order = await session.scalar(
        select(Order).where(Order.order_id == order_id).with_for_update())
    if order is None:
        raise OrderNotFound(f"no order {order_id}", order_id=order_id,
                            valid_id=is_order_id(order_id))
    return order


async def append_audit(session: AsyncSession, order: Order, actor: str, at: datetime, *,
                 kind: str = AUDIT_KIND, from_status: str | None = None,
                 to_status: str | None = None, note: str = "",
                 data: dict[str, Any] | None = None) -> None:
    """Append to the order's audit log (the history the order's views show). The order row
    is locked (or, on SQLite, the transaction holds the write lock), so the next seq is ours;
    the (order_id, seq) unique constraint catches anything else."""
    # The same per-transaction counter the work-order service keeps (the hook shares its
    # transaction, and a batch may write the same order again after us).
    seqs: dict[str, int] = session.info.setdefault(SEQ_KEY, {})
    if order.order_id not in seqs:
        await session.flush()
        seqs[order.order_id] = await session.scalar(
            select(func.coalesce(func.max(AuditEntry.seq), 0))
            .where(AuditEntry.order_id == order.order_id)) or 0
    seqs[order.order_id] += 1
    session.add(AuditEntry(order_id=order.order_id, seq=seqs[order.order_id], kind=kind,
                           actor=actor, at=at, from_status=from_status, to_status=to_status,
                           note=note, data=data))


def step_note(action: Action, previous: str | None, holder: str | None, reason: str) -> str:
    text = {Action.DISPATCH: f"派单 to {holder}",
            Action.ACCEPT: f"签收 by {holder}",
            Action.RETURN: f"退单 by {previous}",
            Action.REASSIGN: (f"改派 from {previous} to {holder}" if previous
                              else f"改派 to {holder}")}[action]
    return f"{text}: {reason}" if reason else text


def allowed_step(row: OrderDispatch, action: Action, as_: Actor, acting: str | None,
                  reason: str) -> Step:
    """The table's step for `action` from the order's state, once who acts may take it."""
    found = step(State(row.state), action)
    if as_ not in found.actors:
        raise AccessDenied(f"a {as_} may not {action} an order",
                           action=str(action), allowed=sorted(found.actors))
    if acting is not None and acting != row.department:
        raise NotYourOrder("this order is held by another department",
                           order_id=row.order_id, department=acting)
    if found.needs_reason and not reason.strip():
        raise InvalidOrder(f"to {action} an order give a reason", order_id=row.order_id)
    return found


async def record_step(session: AsyncSession, order: Any, action: Action, current: State,
                       after: State, holder: str | None, previous: str | None, actor: str,
                       now: datetime, reason: str) -> None:
    """The step in the dispatch log and in the order's own history."""
    session.add(DispatchStep(order_id=order.order_id, action=str(action),
                             from_state=str(current), to_state=str(after),
                             department=holder, previous_department=previous,
                             actor=actor, at=now, reason=reason))
    await append_audit(session, order, actor, now, note=step_note(action, previous, holder, reason),
                 data={"action": str(action), "from": str(current), "to": str(after),
                       "department": holder, "previous_department": previous,
                       "reason": reason})
