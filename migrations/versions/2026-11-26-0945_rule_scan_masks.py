"""rules: per-order match masks and rule scan slots for the one-pass scan

Revision ID: rules_0002
Revises: 0002_merge
Create Date: 2026-11-26 09:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "rules_0002"
down_revision = "0002_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_order_mask",
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("sales_order.id"), primary_key=True, autoincrement=False),
        sa.Column("words", sa.String(length=2000), nullable=False),
    )
    with op.batch_alter_table("rule_definition") as batch:
        batch.add_column(sa.Column("scan_slot", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("scan_ready", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("rule_definition") as batch:
        batch.drop_column("scan_ready")
        batch.drop_column("scan_slot")
    op.drop_table("rule_order_mask")
