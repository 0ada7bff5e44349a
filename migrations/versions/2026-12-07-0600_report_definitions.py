"""reports: versioned report and dashboard definitions (issue 16)

New tables only; existing data is untouched.

Revision ID: reports_0001
Revises: ocr_0001
Create Date: 2026-12-07 06:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType, UTCDateTime

revision = "reports_0001"
down_revision = "dueindex_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("report_definition", "dashboard_definition"):
        _definition_table(table)


def _definition_table(table: str) -> None:
    op.create_table(
        table,
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
    op.create_index(f"ix_{table}_key_status", table, ["key", "status"])


def downgrade() -> None:
    for table in ("dashboard_definition", "report_definition"):
        op.drop_index(f"ix_{table}_key_status", table_name=table)
        op.drop_table(table)
