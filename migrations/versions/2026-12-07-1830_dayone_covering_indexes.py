"""day-one tiles over all time read narrow covering indexes, not every order row (issue 16)

- `ix_sales_order_delivered`: the delivered orders with a planned date — `delivered_at`, and on
  PostgreSQL the planned date, status, owner and id beside it (INCLUDE) — what the on-time trend
  reads, with the access clause's columns: an index-only scan of ~870,000 narrow entries instead of
  the order rows (whose `data` carries every designed field). Partial: an order enters it when it is
  delivered, so a new order's insert does not touch it.
- `ix_sales_order_customer_figures` replaces `ix_sales_order_customer_id`: the same leading key (the
  lookups by customer are served as before) with, on PostgreSQL, the status, amount, delivered and
  planned dates, owner and id beside it: the customers data set's per-customer figures are an
  index-only scan in customer order, grouped as it streams (no hash of 1,000,000 rows). One index
  replaced by one: every order write keeps its count of index entries.
SQLite has no INCLUDE: there both are plain indexes on their key. Existing rows are kept; going
back drops the two and restores `ix_sales_order_customer_id`.

Revision ID: dayone1m_0001
Revises: insight1m_0001
Create Date: 2026-12-07 18:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "dayone1m_0001"
down_revision = "insight1m_0001"
branch_labels = None
depends_on = None

DELIVERED = "delivered_at IS NOT NULL AND planned_delivery IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_sales_order_delivered", "sales_order", ["delivered_at"],
                    postgresql_include=["planned_delivery", "status", "owner_id", "id"],
                    postgresql_where=sa.text(DELIVERED), sqlite_where=sa.text(DELIVERED))
    op.create_index("ix_sales_order_customer_figures", "sales_order", ["customer_id"],
                    postgresql_include=["status", "amount", "delivered_at", "planned_delivery", "owner_id", "id"])
    op.drop_index("ix_sales_order_customer_id", table_name="sales_order")


def downgrade() -> None:
    op.create_index("ix_sales_order_customer_id", "sales_order", ["customer_id"])
    op.drop_index("ix_sales_order_customer_figures", table_name="sales_order")
    op.drop_index("ix_sales_order_delivered", table_name="sales_order")
