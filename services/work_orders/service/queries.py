"""Reads over many orders at once, in chunks: the facts reports and supervision judge,
the exchange records, the notice tiers and the links of an order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..exchange import order_to_record
from ..models import AuditEntry, Order, OrderLink, ReturnVisit, SupervisionNotice
from ..reports import OrderFacts, counted, first_reply
from ..status import Status


def chunks(ids: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def grouped(session: AsyncSession, ids: list[str], key: Any, *order_by: Any
                  ) -> dict[str, list[Any]]:
    """Rows whose `key` column is one of `ids`, grouped by it, in `order_by` order."""
    entity = key.class_
    out: dict[str, list[Any]] = {}
    for chunk in chunks(ids):
        rows = await session.scalars(select(entity).where(key.in_(chunk)).order_by(*order_by))
        for row in rows.all():
            out.setdefault(getattr(row, key.key), []).append(row)
    return out


async def facts(
    session: AsyncSession, orders: Sequence[Order], *, with_visits: bool = False
) -> dict[str, OrderFacts]:
    ids = [o.order_id for o in orders]
    replies = await _replies(session, ids)
    visits = await _latest_visits(session, ids) if with_visits else {}
    return {o.order_id: _facts_of(o, replies.get(o.order_id, ()), visits.get(o.order_id))
            for o in orders}


async def _replies(session: AsyncSession, ids: list[str]
                   ) -> dict[str, list[tuple[datetime, str]]]:
    replies: dict[str, list[tuple[datetime, str]]] = {}
    for chunk in chunks(ids):
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
    return replies


async def _latest_visits(session: AsyncSession, ids: list[str]) -> dict[str, ReturnVisit]:
    visits: dict[str, ReturnVisit] = {}
    for chunk in chunks(ids):
        for visit in (
            await session.scalars(
                select(ReturnVisit)
                .where(ReturnVisit.order_id.in_(chunk))
                .order_by(ReturnVisit.visited_at, ReturnVisit.id)
            )
        ).all():
            visits[visit.order_id] = visit  # the latest visit wins
    return visits


def _facts_of(o: Order, replies: Iterable[tuple[datetime, str]],
              latest: ReturnVisit | None) -> OrderFacts:
    return OrderFacts(
        order_id=o.order_id,
        platform=o.platform,
        department=o.department,
        region_code=o.region_code,
        level=o.level,
        opened_at=o.opened_at,
        deadline_at=o.deadline_at,
        status=o.status,
        first_reply_at=first_reply(replies),
        counted=counted(o.status, o.merged_into, o.duplicate_of),
        visit_resolved=latest.resolved if latest else None,
        visit_satisfied=latest.satisfied if latest else None,
    )


async def notice_tiers(session: AsyncSession, ids: list[str]) -> dict[str, set[int]]:
    tiers: dict[str, set[int]] = {}
    for chunk in chunks(ids):
        for order_id, tier in (
            await session.execute(
                select(SupervisionNotice.order_id, SupervisionNotice.tier).where(
                    SupervisionNotice.order_id.in_(chunk)
                )
            )
        ).all():
            tiers.setdefault(order_id, set()).add(tier)
    return tiers


async def records(session: AsyncSession, orders: Sequence[Order]) -> list[dict[str, Any]]:
    ids = [o.order_id for o in orders]
    history = await grouped(session, ids, AuditEntry.order_id, AuditEntry.seq)
    links = await grouped(session, ids, OrderLink.source_order_id, OrderLink.id)
    visits = await grouped(session, ids, ReturnVisit.order_id, ReturnVisit.visited_at,
                           ReturnVisit.id)
    notices = await grouped(session, ids, SupervisionNotice.order_id, SupervisionNotice.tier)
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


async def linked(session: AsyncSession, order_id: str) -> list[dict[str, Any]]:
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
