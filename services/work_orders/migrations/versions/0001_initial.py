"""Orders, their audit log, links, return visits, supervision notices, applied events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
ORDER_ID = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", ORDER_ID, primary_key=True),
        sa.Column("platform", sa.String(8), nullable=False),
        sa.Column("call_id", sa.String(128)),
        sa.Column("citizen_number", sa.String(32), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("suggestion", sa.JSON()),
        sa.Column("category", sa.String(64)),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("deadline_at", TZ, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("department", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.Text()),
        sa.Column("next_steps", sa.Text()),
        sa.Column("source_order_id", ORDER_ID),
        sa.Column("merged_into", ORDER_ID),
        sa.Column("duplicate_of", ORDER_ID),
        sa.Column("updated_at", TZ, nullable=False),
    )
    for column in ("platform", "region_code", "opened_at", "deadline_at", "department", "status"):
        op.create_index(f"ix_orders_{column}", "orders", [column])

    op.create_table(
        "order_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", ORDER_ID, sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16)),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON()),
        sa.UniqueConstraint("order_id", "seq", name="uq_order_audit_seq"),
    )
    op.create_index("ix_order_audit_order_id", "order_audit", ["order_id"])

    op.create_table(
        "order_links",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source_order_id", ORDER_ID, sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("target_order_id", ORDER_ID, sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("source_order_id", "target_order_id", "kind", name="uq_order_links"),
    )
    op.create_index("ix_order_links_source_order_id", "order_links", ["source_order_id"])
    op.create_index("ix_order_links_target_order_id", "order_links", ["target_order_id"])

    op.create_table(
        "return_visits",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", ORDER_ID, sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("visited_at", TZ, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("satisfied", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_return_visits_order_id", "return_visits", ["order_id"])

    op.create_table(
        "supervision_notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", ORDER_ID, sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("department", sa.String(128)),
        sa.UniqueConstraint("order_id", "tier", name="uq_supervision_tier"),
    )
    op.create_index("ix_supervision_notices_order_id", "supervision_notices", ["order_id"])

    op.create_table(
        "applied_events",
        sa.Column("event_id", sa.String(96), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("order_id", ORDER_ID),
        sa.Column("applied_at", TZ, nullable=False),
    )

    _make_audit_append_only()


def _make_audit_append_only() -> None:
    # The audit log is evidence for overdue flags and the three rates: no rewrites.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION order_audit_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'order_audit is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER order_audit_append_only BEFORE UPDATE OR DELETE ON order_audit "
            "FOR EACH ROW EXECUTE FUNCTION order_audit_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER order_audit_no_{action.lower()} BEFORE {action} ON order_audit "
                "BEGIN SELECT RAISE(ABORT, 'order_audit is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER order_audit_append_only ON order_audit")
        op.execute("DROP FUNCTION order_audit_append_only()")
    for table in (
        "applied_events",
        "supervision_notices",
        "return_visits",
        "order_links",
        "order_audit",
        "orders",
    ):
        op.drop_table(table)
