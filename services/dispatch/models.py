"""Tables of the dispatch catalogue and the dispatch flow, in the shared order database.

They share the work-order tables' `Base` (one metadata, one migration chain) and are
created only by the migration `0003_dispatch`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.work_orders.models import ORDER_ID, Base

DEPARTMENT_ID = String(64)


class DispatchDepartment(Base):
    __tablename__ = "dispatch_departments"

    id: Mapped[str] = mapped_column(DEPARTMENT_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    remit: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]


class DispatchItem(Base):
    """One responsibility item (权责清单) of a department."""

    __tablename__ = "dispatch_items"

    item_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    department: Mapped[str] = mapped_column(
        DEPARTMENT_ID, ForeignKey("dispatch_departments.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JSON)
    regions: Mapped[list[str]] = mapped_column(JSON)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class OrderDispatch(Base):
    """Where a 12345 order stands in the dispatch flow, and what was suggested for it."""

    __tablename__ = "order_dispatch"

    order_id: Mapped[str] = mapped_column(ORDER_ID, ForeignKey("orders.order_id"),
                                          primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    department: Mapped[str | None] = mapped_column(DEPARTMENT_ID, index=True)
    suggested: Mapped[str | None] = mapped_column(DEPARTMENT_ID, index=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    suggested_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class DispatchStep(Base):
    """One step of the flow (dispatch, accept, return, reassign); never changed afterwards."""

    __tablename__ = "dispatch_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ORDER_ID, ForeignKey("orders.order_id"), index=True)
    action: Mapped[str] = mapped_column(String(16), index=True)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(DEPARTMENT_ID, index=True)
    previous_department: Mapped[str | None] = mapped_column(DEPARTMENT_ID)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")
