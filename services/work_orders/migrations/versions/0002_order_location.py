"""An optional location on orders (address, latitude, longitude), and an index on the
citizen's number for caller history.

Revision ID: 0002_order_location
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_order_location"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("address", sa.String(200)))
        batch.add_column(sa.Column("lat", sa.Float()))
        batch.add_column(sa.Column("lon", sa.Float()))
    op.create_index("ix_orders_citizen_number", "orders", ["citizen_number"])


def downgrade() -> None:
    op.drop_index("ix_orders_citizen_number", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("lon")
        batch.drop_column("lat")
        batch.drop_column("address")
