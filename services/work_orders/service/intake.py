"""Intake: orders come in from a call, from an online request, or from an exchange file."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.privacy import mask_number

from ..categories import default_level
from ..errors import InvalidOrder
from ..events import OrderOpened
from ..exchange import CHANNELS, read_records, record_to_rows
from ..ids import PREFIXES, new_order_id, platform_of
from ..levels import ResponseLevel
from ..models import AuditEntry, Order, OrderLink, ReturnVisit, SupervisionNotice
from .store import SYSTEM, OrderStore, audit, find_order

log = logging.getLogger("services.work_orders.service")


class Intake(OrderStore):
    async def _on_opened(self, session: AsyncSession, e: OrderOpened) -> None:
        if e.platform not in PREFIXES or platform_of(e.order_id) != e.platform:
            raise InvalidOrder("order id and platform disagree", order_id=e.order_id)
        if e.channel not in CHANNELS:
            raise InvalidOrder(f"channel must be one of {CHANNELS}", channel=e.channel)
        order = await find_order(session, e.order_id)
        if order is not None:
            await self._complete(session, order, e)
            return
        await self._open(
            session,
            SYSTEM,
            level=ResponseLevel(e.level) if e.level else default_level(e.category, self.categories),
            note=f"opened via {e.channel}",
            data={"call_id": e.call_id},
            order_id=e.order_id,
            platform=e.platform,
            call_id=e.call_id,
            citizen_number=e.citizen_number or "",
            region_code=e.region_code,
            channel=e.channel,
            opened_at=e.opened_at,
            suggestion=e.suggestion,
            category=e.category,
            summary=e.summary or "",
        )
        log.info("order %s opened for %s", e.order_id, mask_number(e.citizen_number))

    async def _complete(self, session: AsyncSession, order: Order, e: OrderOpened) -> None:
        """The transfer created this order first; the call's own details complete it."""
        order.call_id = order.call_id or e.call_id
        order.suggestion = order.suggestion or e.suggestion
        order.citizen_number = order.citizen_number or e.citizen_number
        order.summary = order.summary or e.summary
        await audit(session, order, "details", SYSTEM, e.opened_at,
                    note="call details attached", data={"call_id": e.call_id})

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
                counts["entries"] += await _add_missing(session, rows)
                links.extend(rows.links)
            await session.flush()
            counts["entries"] += await _add_missing_links(session, links)
        return counts

    async def import_stream(self, stream: IO[str], fmt: str = "jsonl") -> dict[str, int]:
        return await self.import_records(read_records(stream, fmt))


async def _add_missing_links(session: AsyncSession, links: list[OrderLink]) -> int:
    added = 0
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
            added += 1
    return added


async def _add_missing(session: AsyncSession, rows: Any) -> int:
    """Add the history entries, visits and notices of `rows` the database lacks."""
    order_id = rows.order.order_id
    seqs = set(
        (await session.scalars(select(AuditEntry.seq).where(AuditEntry.order_id == order_id))).all()
    )
    visits = {
        (v.visited_at, v.actor)
        for v in (
            await session.scalars(select(ReturnVisit).where(ReturnVisit.order_id == order_id))
        ).all()
    }
    tiers = set(
        (
            await session.scalars(
                select(SupervisionNotice.tier).where(SupervisionNotice.order_id == order_id)
            )
        ).all()
    )
    new = [e for e in rows.history if e.seq not in seqs]
    new += [v for v in rows.visits if (v.visited_at, v.actor) not in visits]
    new += [n for n in rows.notices if n.tier not in tiers]
    session.add_all(new)
    return len(new)
