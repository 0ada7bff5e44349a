"""schedule: report schedules and outbox e-mail attachments (issue 16)

New tables only; existing data is untouched.

Revision ID: schedule_0001
Revises: reports_0001
Create Date: 2026-12-07 07:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType, UTCDateTime

revision = "schedule_0001"
down_revision = "reports_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_key", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("at", sa.String(length=5), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("user_ids", JSONType, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("last_moment", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["notify_channel.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_schedule_report_key", "report_schedule", ["report_key"])
    op.create_table(
        "outbox_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outbox_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_attachment_message_id", "outbox_attachment", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_attachment_message_id", table_name="outbox_attachment")
    op.drop_table("outbox_attachment")
    op.drop_index("ix_report_schedule_report_key", table_name="report_schedule")
    op.drop_table("report_schedule")
