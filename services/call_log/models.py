"""Call-log tables, on the work-order database's metadata (one database, one chain of
migrations: 0005_call_log). Created and changed only by migrations."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.work_orders.models import ORDER_ID, Base

CALL_ID = String(40)


class CallLogRow(Base):
    """One call at one platform: arrival, wait, answer, seats, transfers, end, orders.

    The columns after `at` are worked out from the call's steps (record.summarize) each
    time one is applied, so a late or replayed step never leaves the row stale.
    `recording_ids` is the join point for recordings (a list of ids, null until the
    recordings part fills it; they can equally be joined on `call_id`).
    """

    __tablename__ = "call_log"

    call_id: Mapped[str] = mapped_column(CALL_ID, primary_key=True)
    site: Mapped[str] = mapped_column(String(32), index=True)
    platform: Mapped[str] = mapped_column(String(8))
    origin_site: Mapped[str] = mapped_column(String(32))
    via_trunk: Mapped[bool]
    citizen_number: Mapped[str] = mapped_column(String(32), index=True)
    order_id: Mapped[str] = mapped_column(ORDER_ID, index=True)
    linked_order_id: Mapped[str | None] = mapped_column(ORDER_ID, index=True)
    arrived_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    seat: Mapped[str | None] = mapped_column(String(16), index=True)
    seats: Mapped[list[str]] = mapped_column(JSON)
    wait_s: Mapped[float | None] = mapped_column(Float)
    handled_s: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(16))
    taken_by: Mapped[str | None] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(24), index=True)
    overflowed: Mapped[bool]
    transfers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    legs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    recording_ids: Mapped[list[str] | None] = mapped_column(JSON)


class CallLogStepRow(Base):
    """What a call did, one fact a row, as the controller saw it (the call's audit)."""

    __tablename__ = "call_log_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(CALL_ID, ForeignKey("call_log.call_id"), index=True)
    event_id: Mapped[str] = mapped_column(String(96), unique=True)
    step: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    seat: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
