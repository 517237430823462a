"""Knowledge base: entries, their versions, audit and uses.

Revision ID: 0004_knowledge_base
Revises: 0003_dispatch
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_knowledge_base"
down_revision: str | None = "0003_dispatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
ENTRY_ID = sa.String(48)


def _content() -> list[sa.Column]:
    return [
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("alternatives", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("valid_from", TZ),
        sa.Column("valid_until", TZ),
        sa.Column("review_at", TZ, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "kb_entries",
        sa.Column("entry_id", ENTRY_ID, primary_key=True),
        sa.Column("topic", sa.String(32)),
        *_content(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("audio", sa.String(255)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("published_at", TZ),
    )
    for column in ("topic", "department", "region_code", "category", "status"):
        op.create_index(f"ix_kb_entries_{column}", "kb_entries", [column])

    op.create_table(
        "kb_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", ENTRY_ID, sa.ForeignKey("kb_entries.entry_id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_content(),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.UniqueConstraint("entry_id", "version", name="uq_kb_versions"),
    )
    op.create_index("ix_kb_versions_entry_id", "kb_versions", ["entry_id"])

    op.create_table(
        "kb_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", ENTRY_ID, sa.ForeignKey("kb_entries.entry_id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16)),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON()),
        sa.UniqueConstraint("entry_id", "seq", name="uq_kb_audit_seq"),
    )
    op.create_index("ix_kb_audit_entry_id", "kb_audit", ["entry_id"])

    op.create_table(
        "kb_uses",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", ENTRY_ID, sa.ForeignKey("kb_entries.entry_id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("order_id", sa.String(32)),
        sa.Column("call_id", sa.String(128)),
        sa.Column("region_code", sa.String(12)),
        sa.Column("outcome", sa.String(16)),
    )
    for column in ("entry_id", "at", "order_id"):
        op.create_index(f"ix_kb_uses_{column}", "kb_uses", [column])


def downgrade() -> None:
    for table in ("kb_uses", "kb_audit", "kb_versions", "kb_entries"):
        op.drop_table(table)
