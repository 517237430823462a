"""Reports and views: rates, what a role may see of an order, listings, the exchange
export and the Open311 (GeoReport v2) reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import IO, Any

from sqlalchemy import func, select

from services.privacy import mask_number

from ..exchange import open311_request, open311_services, write_csv, write_jsonl
from ..models import Order
from ..reports import RateRow, compute_rates, is_overdue
from ..status import Status
from ..views import Role, render_view
from . import queries
from .store import OrderStore, get_order


class Reporting(OrderStore):
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
            facts = await queries.facts(session, orders, with_visits=True)
        return compute_rates(
            facts.values(), by=by, period=period, tz=self.calendar.tz, now=self._clock()
        )

    async def overdue(self, order_id: str, now: datetime | None = None) -> bool:
        async with self._sessions() as session:
            order = await get_order(session, order_id, lock=False)
            facts = await queries.facts(session, [order])
        return is_overdue(facts[order_id], now or self._clock())

    async def record(self, order_id: str) -> dict[str, Any]:
        """The full exchange record of an order (schema order.v1), number unmasked."""
        async with self._sessions() as session:
            order = await get_order(session, order_id, lock=False)
            return (await queries.records(session, [order]))[0]

    async def view(self, order_id: str, role: Role | str) -> dict[str, Any]:
        """What `role` may see of an order: masked number, or link and feedback only."""
        async with self._sessions() as session:
            order = await get_order(session, order_id, lock=False)
            record = (await queries.records(session, [order]))[0]
            record["linked"] = await queries.linked(session, order_id)
            facts = await queries.facts(session, [order])
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
                records = await queries.records(session, orders)
            for record in records:
                yield record
            after = orders[-1].order_id

    async def export(self, stream: IO[str], fmt: str = "jsonl") -> int:
        """Write every order to `stream` as JSONL or CSV; returns how many."""
        if fmt == "jsonl":
            return await write_jsonl(self.iter_records(), stream)
        if fmt == "csv":
            return await write_csv(self.iter_records(), stream)
        raise ValueError(f"format must be jsonl or csv, not {fmt!r}")

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
            records = await queries.records(session, orders)
        requests = [open311_request(r, self.calendar.tz, self.categories) for r in records]
        return [r for r in requests if status is None or r["status"] == status]
