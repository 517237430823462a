"""The dispatch catalogue (departments, responsibility items) and the dispatch flow
(each order's dispatch state and suggestion, and every step).

Revision ID: 0003_dispatch
Revises: 0002_order_location
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_dispatch"
down_revision: str | None = "0002_order_location"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
ORDER_ID = sa.String(32)
DEPARTMENT_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "dispatch_departments",
        sa.Column("id", DEPARTMENT_ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("remit", sa.Text(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "dispatch_items",
        sa.Column("item_id", sa.String(96), primary_key=True),
        sa.Column("department", DEPARTMENT_ID, sa.ForeignKey("dispatch_departments.id"),
                  nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_dispatch_items_department", "dispatch_items", ["department"])
    op.create_table(
        "order_dispatch",
        sa.Column("order_id", ORDER_ID, sa.ForeignKey("orders.order_id"), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("department", DEPARTMENT_ID),
        sa.Column("suggested", DEPARTMENT_ID),
        sa.Column("confidence", sa.Float()),
        sa.Column("suggestion", sa.JSON()),
        sa.Column("suggested_at", TZ),
        sa.Column("updated_at", TZ, nullable=False),
    )
    for column in ("state", "department", "suggested"):
        op.create_index(f"ix_order_dispatch_{column}", "order_dispatch", [column])
    op.create_table(
        "dispatch_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", ORDER_ID, sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("department", DEPARTMENT_ID),
        sa.Column("previous_department", DEPARTMENT_ID),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    for column in ("order_id", "action", "department"):
        op.create_index(f"ix_dispatch_steps_{column}", "dispatch_steps", [column])


def downgrade() -> None:
    for table in ("dispatch_steps", "order_dispatch", "dispatch_items", "dispatch_departments"):
        op.drop_table(table)
