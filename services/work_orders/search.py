"""Order search, caller history and order locations: read-side queries on the order table.

Kept beside the service rather than in it: they only read (and, for a location, add one
audited column change), so the service's status flow stays where it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, or_, select

from services.privacy import mask_number

from .errors import InvalidOrder, OrderNotFound
from .exchange import ORDER_FIELDS, TIME_FIELDS, open311_request
from .models import AuditEntry, Order
from .status import WAITING, Status

if TYPE_CHECKING:
    from .service import WorkOrderService

MAX_PAGE = 500


@dataclass(frozen=True)
class Location:
    """Where a request is about: an address, coordinates (WGS 84), or both."""

    address: str | None = None
    lat: float | None = None
    lon: float | None = None

    def __post_init__(self) -> None:
        if (self.lat is None) != (self.lon is None):
            raise InvalidOrder("a location needs both lat and long, or neither")
        for name, value, bound in (("lat", self.lat, 90.0), ("long", self.lon, 180.0)):
            if value is not None and (not math.isfinite(value) or abs(value) > bound):
                raise InvalidOrder(f"{name} must be within ±{bound:g}", **{name: value})
        if self.address is not None and not (0 < len(self.address.strip()) <= 200):
            raise InvalidOrder("an address is 1 to 200 characters")
        if self.address is None and self.lat is None:
            raise InvalidOrder("a location needs an address or coordinates")

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "lat": self.lat, "long": self.lon}


def location_of(order: Order) -> dict[str, Any] | None:
    if order.address is None and order.lat is None:
        return None
    return {"address": order.address, "lat": order.lat, "long": order.lon}


@dataclass(frozen=True)
class OrderQuery:
    """Filters of an order search; None means "any". `number` is matched whole."""

    since: datetime | None = None          # opened at or after
    until: datetime | None = None          # opened before
    status: Sequence[str] = ()
    category: Sequence[str] = ()
    level: Sequence[str] = ()
    region: str | None = None              # a GB/T 2260 prefix: 410300 also finds 410302…
    platform: str | None = None
    number: str | None = None
    overdue: bool | None = None


def number_forms(number: str) -> list[str]:
    """The ways one mainland number is written: 13800138000, +8613800138000, 008613800138000,
    8613800138000 (a caller's E.164 '+' is kept by the controller)."""
    digits = number.lstrip("+")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 7:
            digits = digits[len(prefix):]
            break
    return sorted({digits, f"+86{digits}", f"0086{digits}", f"86{digits}"})


def _where(query: OrderQuery, now: datetime) -> list[Any]:
    clauses: list[Any] = []
    if query.since is not None:
        clauses.append(Order.opened_at >= query.since)
    if query.until is not None:
        clauses.append(Order.opened_at < query.until)
    if query.status:
        clauses.append(Order.status.in_([str(Status(s)) for s in query.status]))
    if query.category:
        clauses.append(Order.category.in_(list(query.category)))
    if query.level:
        clauses.append(Order.level.in_(list(query.level)))
    if query.region:
        clauses.append(Order.region_code.startswith(query.region, autoescape=True))
    if query.platform:
        clauses.append(Order.platform == query.platform)
    if query.number:
        clauses.append(Order.citizen_number.in_(number_forms(query.number)))
    if query.overdue is not None:
        overdue = _overdue(now)
        clauses.append(overdue if query.overdue else ~overdue)
    return clauses


def _overdue(now: datetime) -> Any:
    """The SQL twin of reports.is_overdue: replied after the deadline, or, never replied,
    still waiting after it."""
    replied = select(func.min(AuditEntry.at)).where(
        AuditEntry.order_id == Order.order_id,
        AuditEntry.to_status == str(Status.REPLIED)).scalar_subquery()
    ever_replied = exists().where(AuditEntry.order_id == Order.order_id,
                                  AuditEntry.to_status == str(Status.REPLIED))
    waiting = Order.status.in_([str(s) for s in WAITING])
    return or_(and_(ever_replied, replied > Order.deadline_at),
               and_(~ever_replied, waiting, Order.deadline_at < now))


def order_row(order: Order, *, whole_number: bool = False) -> dict[str, Any]:
    """One order as lists show it; the citizen's number masked unless `whole_number`."""
    return {
        "order_id": order.order_id, "platform": order.platform, "status": order.status,
        "level": order.level, "category": order.category, "department": order.department,
        "region_code": order.region_code, "channel": order.channel,
        "opened_at": order.opened_at, "deadline_at": order.deadline_at,
        "citizen": order.citizen_number if whole_number else mask_number(order.citizen_number),
        "summary": order.summary[:200], "location": location_of(order),
    }


async def search_orders(service: WorkOrderService, query: OrderQuery, *, limit: int = 50,
                        offset: int = 0, whole_numbers: bool = False,
                        ) -> tuple[list[dict[str, Any]], int]:
    """One page of matching orders, newest first, and how many match in all."""
    limit = max(1, min(limit, MAX_PAGE))
    clauses = _where(query, service.now())
    page = (select(Order).where(*clauses).order_by(Order.opened_at.desc(), Order.order_id)
            .limit(limit).offset(offset))
    async with service.session_factory() as session:
        total = int(await session.scalar(
            select(func.count()).select_from(Order).where(*clauses)) or 0)
        orders = (await session.scalars(page)).all()
    return [order_row(o, whole_number=whole_numbers) for o in orders], total


async def set_location(service: WorkOrderService, order_id: str, location: Location,
                       actor: str) -> None:
    """Record where an order's request is about, with an audit entry."""
    async with service.session_factory() as session, session.begin():
        order = await session.get(Order, order_id, with_for_update=True)
        if order is None:
            raise OrderNotFound(f"no order {order_id}", order_id=order_id)
        order.address, order.lat, order.lon = location.address, location.lat, location.lon
        now = service.now()
        order.updated_at = now
        seq = int(await session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))
                                        .where(AuditEntry.order_id == order_id)) or 0)
        session.add(AuditEntry(order_id=order_id, seq=seq + 1, kind="details", actor=actor,
                               at=now, note="location set",
                               data={"location": location.to_dict()}))


async def locations(service: WorkOrderService, order_ids: Sequence[str]
                    ) -> dict[str, dict[str, Any]]:
    """The location of each of these orders that has one."""
    if not order_ids:
        return {}
    async with service.session_factory() as session:
        orders = (await session.scalars(
            select(Order).where(Order.order_id.in_(list(order_ids))))).all()
    return {o.order_id: loc for o in orders if (loc := location_of(o)) is not None}


# Open311 folds the status table into two: closed is 办结, 不予受理 or handed to the other
# platform (exchange.open311_request says the same of one order).
OPEN311_CLOSED = (Status.CLOSED, Status.REJECTED, Status.TRANSFERRED)


async def open311_requests(service: WorkOrderService, *, ids: Sequence[str] = (),
                           service_codes: Sequence[str] = (), statuses: Sequence[str] = (),
                           start: datetime | None = None, end: datetime | None = None,
                           limit: int = 1000) -> list[dict[str, Any]]:
    """GeoReport v2 service requests, newest first, every filter in SQL (so `limit` cuts
    only matches)."""
    query = select(Order).order_by(Order.opened_at.desc(), Order.order_id)
    if ids:
        query = query.where(Order.order_id.in_(list(ids)))
    else:
        if service_codes:
            query = query.where(Order.category.in_(list(service_codes)))
        if start is not None:
            query = query.where(Order.opened_at >= start)
        if end is not None:
            query = query.where(Order.opened_at <= end)
        closed = Order.status.in_([str(s) for s in OPEN311_CLOSED])
        if set(statuses) == {"open"}:
            query = query.where(~closed)
        elif set(statuses) == {"closed"}:
            query = query.where(closed)
    async with service.session_factory() as session:
        orders = (await session.scalars(query.limit(limit))).all()
    return [open311_request(_record(o), service.calendar.tz, service.categories, location_of(o))
            for o in orders]


def _record(order: Order) -> dict[str, Any]:
    return {name: (getattr(order, name).isoformat() if name in TIME_FIELDS
                   else getattr(order, name)) for name in ORDER_FIELDS}
