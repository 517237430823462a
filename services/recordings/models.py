"""Recording tables, on the work-order database's metadata (one database, one chain of
migrations: 0006_recordings). Created and changed only by migrations."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.work_orders.models import Base

RECORDING_ID = String(48)


class Recording(Base):
    """One platform's part of a call: the mixed audio of its bridge, from the answer on."""

    __tablename__ = "recordings"

    recording_id: Mapped[str] = mapped_column(RECORDING_ID, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(32), index=True)
    site: Mapped[str] = mapped_column(String(32), index=True)
    platform: Mapped[str] = mapped_column(String(8))
    seats: Mapped[list[str]] = mapped_column(JSON)     # the agents who took part, by seat
    file_name: Mapped[str] = mapped_column(String(128))  # under the site's recording dir
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]               # the audio is gone; the row stays


class RecordingOrder(Base):
    """Every order a recording belongs to: its platform's own, and across a hand-over or a
    three-way, the other platform's linked one."""

    __tablename__ = "recording_orders"

    recording_id: Mapped[str] = mapped_column(
        RECORDING_ID, ForeignKey("recordings.recording_id"), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class RecordingAudit(Base):
    """Who heard, fetched, supervised or deleted what, and when. Never deleted."""

    __tablename__ = "recording_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32), index=True)
    recording_id: Mapped[str | None] = mapped_column(RECORDING_ID, index=True)
    call_id: Mapped[str | None] = mapped_column(String(32), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
