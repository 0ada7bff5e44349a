"""what-if runs: replays queued for the worker with progress and a bounded result (issue 14)

A new table only; existing data is untouched.

Revision ID: whatif2_0001
Revises: reportimg_0001
Create Date: 2026-12-07 13:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from backend.models_base import UTCDateTime

revision = "whatif2_0001"
down_revision = "reportimg_0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "whatif_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("draft", JSON, nullable=False),
        sa.Column("draft_hash", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_whatif_run_state_id", "whatif_run", ["state", "id"])
    op.create_index("ix_whatif_run_requested_by_state", "whatif_run", ["requested_by", "state"])


def downgrade() -> None:
    op.drop_index("ix_whatif_run_requested_by_state", table_name="whatif_run")
    op.drop_index("ix_whatif_run_state_id", table_name="whatif_run")
    op.drop_table("whatif_run")
