"""report schedules of dashboards: a nullable dashboard_key on report_schedule (issue 16)

A schedule with a dashboard_key sends that dashboard as one composed image; existing schedules
keep NULL (a report's schedule) and are untouched.

Revision ID: reportimg_0001
Revises: reportui_0001
Create Date: 2026-12-07 13:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "reportimg_0001"
down_revision = "reportui_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_schedule") as batch:
        batch.add_column(sa.Column("dashboard_key", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_schedule") as batch:
        batch.drop_column("dashboard_key")
