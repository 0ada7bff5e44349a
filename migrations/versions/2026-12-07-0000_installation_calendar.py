"""installation_calendar: the installation's time zone, working time, holidays and currency

Time zone and business calendar were fixed in code (Asia/Shanghai, Monday to Friday, 9-12 and
13-18, CNY). One row now holds what an admin sets (issue 17). No row is written here: a database
without one keeps today's behaviour (backend/installation/service.py), so upgrading changes nothing.

Revision ID: calendar_0001
Revises: titles_0001
Create Date: 2026-12-07 00:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.models_base import UTCDateTime

revision = "calendar_0001"
down_revision = "titles_0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "installation_calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=60), nullable=False),
        sa.Column("working_weekdays", JSON, nullable=False),
        sa.Column("periods", JSON, nullable=False),
        sa.Column("holidays", JSON, nullable=False),
        sa.Column("extra_working_days", JSON, nullable=False),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["app_user.id"],
                                name="fk_installation_calendar_updated_by_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_installation_calendar"),
    )


def downgrade() -> None:
    op.drop_table("installation_calendar")
