"""the order's shipped_at: when it was first handed to a carrier with a tracking number (issue 13)

One nullable column, filled for orders that already have a shipment (its first opening); orders that
never had one stay empty.

Revision ID: shipped_0001
Revises: logistics_0001
Create Date: 2026-12-07 04:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "shipped_0001"
down_revision = "logistics_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales_order") as batch:
        batch.add_column(sa.Column("shipped_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE sales_order SET shipped_at = (SELECT min(s.created_at) FROM shipment s "
               "WHERE s.order_id = sales_order.id) WHERE shipped_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("sales_order") as batch:
        batch.drop_column("shipped_at")
