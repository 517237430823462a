"""Knowledge-base tables, on the work-order database's metadata (one database, one set of
migrations). Created and changed only by migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.work_orders.models import Base

ENTRY_ID = String(48)


class KbEntry(Base):
    """One question with its agreed answer (一问一答口径), as it stands now."""

    __tablename__ = "kb_entries"

    entry_id: Mapped[str] = mapped_column(ENTRY_ID, primary_key=True)
    topic: Mapped[str | None] = mapped_column(String(32), index=True)
    question: Mapped[str] = mapped_column(Text)
    alternatives: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    department: Mapped[str] = mapped_column(String(64), index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    review_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    audio: Mapped[str | None] = mapped_column(String(255))   # the answer's WAV, rendered at publish
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


class KbVersion(Base):
    """Every text an entry ever had: one row per version, never changed."""

    __tablename__ = "kb_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_kb_versions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("kb_entries.entry_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    alternatives: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    department: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(String(12))
    category: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    review_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]


class KbAudit(Base):
    """Who did what to an entry, when: creation, edits, moves, imports."""

    __tablename__ = "kb_audit"
    __table_args__ = (UniqueConstraint("entry_id", "seq", name="uq_kb_audit_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("kb_entries.entry_id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class KbUse(Base):
    """An entry's answer used: put into an order's reply on the desk, or played by the IVR."""

    __tablename__ = "kb_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("kb_entries.entry_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    call_id: Mapped[str | None] = mapped_column(String(128))
    region_code: Mapped[str | None] = mapped_column(String(12))
    # the surge IVR caller's choice after the answer: helped | person | callback
    outcome: Mapped[str | None] = mapped_column(String(16))
