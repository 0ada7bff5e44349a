"""connectors: pull connectors, their runs and the records a run could not use (issue 13)

New tables only; existing data is untouched.

Revision ID: connectors_0001
Revises: contacts_0001
Create Date: 2026-12-07 01:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType, UTCDateTime

revision = "connectors_0001"
down_revision = "contacts_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.String(length=60), nullable=True),
        sa.Column("settings", JSONType, nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("schedule_minutes", sa.Integer(), nullable=True),
        sa.Column("schedule_cron", sa.String(length=100), nullable=True),
        sa.Column("mapping", JSONType, nullable=False),
        sa.Column("cursor", JSONType, nullable=False),
        sa.Column("max_failures", sa.Integer(), nullable=False),
        sa.Column("failures_in_row", sa.Integer(), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_error", JSONType, nullable=True),
        sa.Column("last_error_record", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["app_user.id"], name="fk_connector_owner_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_connector"),
        sa.UniqueConstraint("name", name="uq_connector_name"),
    )
    op.create_index("ix_connector_owner_id", "connector", ["owner_id"])
    op.create_index("ix_connector_due", "connector", ["is_enabled", "next_run_at"])
    op.create_table(
        "connector_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("read_count", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("updated_count", sa.Integer(), nullable=False),
        sa.Column("unchanged_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("error", JSONType, nullable=True),
        sa.ForeignKeyConstraint(["connector_id"], ["connector.id"], name="fk_connector_run_connector_id_connector"),
        sa.PrimaryKeyConstraint("id", name="pk_connector_run"),
    )
    op.create_index("ix_connector_run_connector", "connector_run", ["connector_id", "id"])
    op.create_table(
        "connector_record_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=120), nullable=True),
        sa.Column("record", JSONType, nullable=True),
        sa.Column("errors", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["connector_id"], ["connector.id"],
                                name="fk_connector_record_error_connector_id_connector"),
        sa.ForeignKeyConstraint(["run_id"], ["connector_run.id"], name="fk_connector_record_error_run_id_connector_run"),
        sa.PrimaryKeyConstraint("id", name="pk_connector_record_error"),
    )
    op.create_index("ix_connector_record_error_run", "connector_record_error", ["connector_id", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_connector_record_error_run", table_name="connector_record_error")
    op.drop_table("connector_record_error")
    op.drop_index("ix_connector_run_connector", table_name="connector_run")
    op.drop_table("connector_run")
    op.drop_index("ix_connector_due", table_name="connector")
    op.drop_index("ix_connector_owner_id", table_name="connector")
    op.drop_table("connector")
