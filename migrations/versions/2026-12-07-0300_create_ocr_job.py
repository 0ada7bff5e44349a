"""ocr: contract OCR jobs (issue 13)

A new table only; existing data is untouched.

Revision ID: ocr_0001
Revises: webhookfmt_0001
Create Date: 2026-12-07 03:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType, UTCDateTime

revision = "ocr_0001"
down_revision = "shipped_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ocr_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("result", JSONType, nullable=True),
        sa.Column("error", JSONType, nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ocr_job_created_by", "ocr_job", ["created_by"])
    op.create_index("ix_ocr_job_state_locked", "ocr_job", ["state", "locked_until"])


def downgrade() -> None:
    op.drop_index("ix_ocr_job_state_locked", table_name="ocr_job")
    op.drop_index("ix_ocr_job_created_by", table_name="ocr_job")
    op.drop_table("ocr_job")
