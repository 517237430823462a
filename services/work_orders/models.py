"""Tables of the shared work-order database. Created and changed only by migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the work-order database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


ORDER_ID = String(32)


class Order(Base):
    """A 12345 work order (工单) or a 110 police order (警单)."""

    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(ORDER_ID, primary_key=True)
    platform: Mapped[str] = mapped_column(String(8), index=True)
    call_id: Mapped[str | None] = mapped_column(String(128))
    citizen_number: Mapped[str] = mapped_column(String(32), default="", index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(index=True)
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    category: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    deadline_at: Mapped[datetime] = mapped_column(index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    department: Mapped[str | None] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    next_steps: Mapped[str | None] = mapped_column(Text)
    source_order_id: Mapped[str | None] = mapped_column(ORDER_ID)
    merged_into: Mapped[str | None] = mapped_column(ORDER_ID)
    duplicate_of: Mapped[str | None] = mapped_column(ORDER_ID)
    updated_at: Mapped[datetime]
    # where the request is about (online and Open311 requests may say; calls do not yet)
    address: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class AuditEntry(Base):
    """One immutable line of an order's history; triggers refuse UPDATE and DELETE."""

    __tablename__ = "order_audit"
    __table_args__ = (UniqueConstraint("order_id", "seq", name="uq_order_audit_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class OrderLink(Base):
    """source → target: a transfer (handover, three_way, online) or a merge / duplicate."""

    __tablename__ = "order_links"
    __table_args__ = (
        UniqueConstraint("source_order_id", "target_order_id", "kind", name="uq_order_links"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    target_order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class ReturnVisit(Base):
    __tablename__ = "return_visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    visited_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    resolved: Mapped[bool] = mapped_column(Boolean)
    satisfied: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")


class SupervisionNotice(Base):
    """A 督办 notice; tier 2 and up are escalations. One per order and tier."""

    __tablename__ = "supervision_notices"
    __table_args__ = (UniqueConstraint("order_id", "tier", name="uq_supervision_tier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    tier: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime]
    due_at: Mapped[datetime]
    department: Mapped[str | None] = mapped_column(String(128))


class AppliedEvent(Base):
    """Ids of outbox events already applied: replays become no-ops."""

    __tablename__ = "applied_events"

    event_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(ORDER_ID)
    applied_at: Mapped[datetime]
