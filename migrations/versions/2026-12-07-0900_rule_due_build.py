"""the due-time index built by the worker (issue 15): rule_due_build, one row per rule whose
moments are still being computed after enabling or republishing, with its progress

Revision ID: wakeup_0001
Revises: schedule_0001
Create Date: 2026-12-07 09:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "wakeup_0001"
down_revision = "workers_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_due_build",
        sa.Column("rule_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("skip_matching", sa.Boolean(), nullable=False),
        sa.Column("first_order_id", sa.Integer(), nullable=False),
        sa.Column("last_order_id", sa.Integer(), nullable=False),
        sa.Column("after_order_id", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id"),
    )


def downgrade() -> None:
    op.drop_table("rule_due_build")
