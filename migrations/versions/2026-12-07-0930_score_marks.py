"""score marks: the change marks the stored order scores are recomputed from (issue 14)

A new table only; existing data is untouched.

Revision ID: score1m_0001
Revises: schedule_0001
Create Date: 2026-12-07 09:30:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "score1m_0001"
down_revision = "wakeup_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_score_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("order_score_mark")
