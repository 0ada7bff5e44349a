"""reports: versioned report definitions (issue 16)

A new table only; existing data is untouched.

Revision ID: reports_0001
Revises: ocr_0001
Create Date: 2026-12-07 06:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType, UTCDateTime

revision = "reports_0001"
down_revision = "ocr_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("definition", JSONType, nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "version"),
    )
    op.create_index("ix_report_definition_key_status", "report_definition", ["key", "status"])


def downgrade() -> None:
    op.drop_index("ix_report_definition_key_status", table_name="report_definition")
    op.drop_table("report_definition")
