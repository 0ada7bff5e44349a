"""order list: (amount, id) index for sorting and paging by amount

bench/orders_list.py, 1,000,000 orders: `stage = 'payment' ORDER BY amount DESC, id DESC LIMIT 51`
sorted all 64,000 orders of the stage (400 ms); with (amount, id) PostgreSQL walks the index
backwards and stops after the first page. Keyset pages by amount use the same index.

Revision ID: orders_0003
Revises: orders_0002
Create Date: 2026-11-26 07:50:00
"""
from alembic import op

revision = "orders_0003"
down_revision = "orders_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.create_index("ix_sales_order_amount_id", ["amount", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_order_amount_id")
