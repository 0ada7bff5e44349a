"""stored order scores for rules, the order list and auto-decisions (issue 14)

customer / supplier / carrier on-time rates, priority score and churn signals on `sales_order`,
refreshed by the worker job `order_scores` (engine/facts/scores.py). New columns start empty (rates)
or 0 (scores) until the job's first run; existing rows keep their data.

Revision ID: autodecide_0001
Revises: ocr_0001
Create Date: 2026-12-07 05:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "autodecide_0001"
down_revision = "portal_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales_order") as batch:
        batch.add_column(sa.Column("customer_on_time_rate", sa.Float(), nullable=True))
        batch.add_column(sa.Column("supplier_on_time_rate", sa.Float(), nullable=True))
        batch.add_column(sa.Column("carrier_on_time_rate", sa.Float(), nullable=True))
        batch.add_column(sa.Column("priority_score", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("churn_signals", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_sales_order_priority_score", "sales_order", ["priority_score"])
    op.create_index("ix_sales_order_churn_signals", "sales_order", ["churn_signals"])


def downgrade() -> None:
    op.drop_index("ix_sales_order_churn_signals", table_name="sales_order")
    op.drop_index("ix_sales_order_priority_score", table_name="sales_order")
    with op.batch_alter_table("sales_order") as batch:
        for name in ("churn_signals", "priority_score", "carrier_on_time_rate",
                     "supplier_on_time_rate", "customer_on_time_rate"):
            batch.drop_column(name)
