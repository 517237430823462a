"""Call log: one row per call at a platform, and the steps it is worked out from.

Revision ID: 0005_call_log
Revises: 0004_knowledge_base
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_call_log"
down_revision: str | None = "0004_knowledge_base"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
CALL_ID = sa.String(40)
ORDER_ID = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "call_log",
        sa.Column("call_id", CALL_ID, primary_key=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(8), nullable=False),
        sa.Column("origin_site", sa.String(32), nullable=False),
        sa.Column("via_trunk", sa.Boolean(), nullable=False),
        sa.Column("citizen_number", sa.String(32), nullable=False),
        sa.Column("order_id", ORDER_ID, nullable=False),
        sa.Column("linked_order_id", ORDER_ID),
        sa.Column("arrived_at", TZ, nullable=False),
        sa.Column("answered_at", TZ),
        sa.Column("seat", sa.String(16)),
        sa.Column("seats", sa.JSON(), nullable=False),
        sa.Column("wait_s", sa.Float()),
        sa.Column("handled_s", sa.Float()),
        sa.Column("ended_at", TZ),
        sa.Column("ended_by", sa.String(16)),
        sa.Column("taken_by", sa.String(8)),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("overflowed", sa.Boolean(), nullable=False),
        sa.Column("transfers", sa.JSON(), nullable=False),
        sa.Column("legs", sa.JSON(), nullable=False),
        sa.Column("recording_ids", sa.JSON()),
    )
    for column in ("site", "citizen_number", "order_id", "linked_order_id", "arrived_at",
                   "seat", "outcome"):
        op.create_index(f"ix_call_log_{column}", "call_log", [column])
    op.create_table(
        "call_log_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", CALL_ID, sa.ForeignKey("call_log.call_id"), nullable=False),
        sa.Column("event_id", sa.String(96), nullable=False, unique=True),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("seat", sa.String(16)),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_call_log_steps_call_id", "call_log_steps", ["call_id"])


def downgrade() -> None:
    op.drop_table("call_log_steps")
    op.drop_table("call_log")
