"""the due-time index (issue 15): rule_due (rule version, order, due moment) and the
reconciliation scan's own match words

Existing enabled indexed rules get their moments at the first reconciliation after upgrading
(`rule_due` starts empty; `scan_ready` is reset so the reconciliation builds them).

Revision ID: dueindex_0001
Revises: ocr_0001
Create Date: 2026-12-07 06:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "dueindex_0001"
down_revision = "foresight_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_due",
        sa.Column("rule_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("order_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "order_id"),
    )
    op.create_index("ix_rule_due_due_at", "rule_due", ["due_at"])
    op.create_index("ix_rule_due_order", "rule_due", ["order_id"])
    op.create_table(
        "rule_reconcile_mask",
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("sales_order.id"), autoincrement=False, nullable=False),
        sa.Column("words", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.execute("UPDATE rule_definition SET scan_slot = NULL, scan_ready = false WHERE enabled = true "
               "AND is_time_rule = true")


def downgrade() -> None:
    op.drop_table("rule_reconcile_mask")
    op.drop_index("ix_rule_due_order", table_name="rule_due")
    op.drop_index("ix_rule_due_due_at", table_name="rule_due")
    op.drop_table("rule_due")
