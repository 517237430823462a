"""Call recordings: one row per platform's part of a call, the orders it belongs to, and
the audit of every listen, download, supervision and deletion.

Revision ID: 0006_recordings
Revises: 0005_call_log
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_recordings"
down_revision: str | None = "0005_call_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
RECORDING_ID = sa.String(48)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("recording_id", RECORDING_ID, primary_key=True),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(8), nullable=False),
        sa.Column("seats", sa.JSON(), nullable=False),
        sa.Column("file_name", sa.String(128), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ),
        sa.Column("deleted_at", TZ),
    )
    op.create_index("ix_recordings_call_id", "recordings", ["call_id"])
    op.create_index("ix_recordings_site", "recordings", ["site"])
    op.create_table(
        "recording_orders",
        sa.Column("recording_id", RECORDING_ID, sa.ForeignKey("recordings.recording_id"),
                  primary_key=True),
        sa.Column("order_id", sa.String(64), primary_key=True),
    )
    op.create_index("ix_recording_orders_order_id", "recording_orders", ["order_id"])
    op.create_table(
        "recording_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("recording_id", RECORDING_ID),
        sa.Column("call_id", sa.String(32)),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    for column in ("action", "recording_id", "call_id"):
        op.create_index(f"ix_recording_audit_{column}", "recording_audit", [column])


def downgrade() -> None:
    op.drop_table("recording_audit")
    op.drop_table("recording_orders")
    op.drop_table("recordings")
