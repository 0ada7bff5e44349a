"""to-dos: an index on closed_at, so the report cache's data version of a to-dos report reads the
newest closing with one index look-up (issue 16)

An index only; existing data is untouched.

Revision ID: reportui_0001
Revises: bulk5_0001
Create Date: 2026-12-07 13:00:00
"""
from alembic import op

revision = "reportui_0001"
down_revision = "bulk5_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_item_closed_at", "inbox_item", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_item_closed_at", table_name="inbox_item")
