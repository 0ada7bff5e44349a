"""create rule_definition, rule_firing, rule_order_state

Revision ID: rules_0001
Revises: 0001
Create Date: 2026-11-26 07:10:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.models_base

revision = "rules_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("is_time_rule", sa.Boolean(), nullable=False),
        sa.Column("is_event_only", sa.Boolean(), nullable=False),
        sa.Column("definition", backend.models_base.JSONType, nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", backend.models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", backend.models_base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_scan_at", backend.models_base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "version"),
    )
    op.create_index("ix_rule_definition_key_status", "rule_definition", ["key", "status"], unique=False)
    op.create_index("ix_rule_definition_enabled", "rule_definition", ["enabled", "is_time_rule"], unique=False)
    op.create_table(
        "rule_firing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("fired_at", backend.models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("effects", backend.models_base.JSONType, nullable=False),
        sa.Column("problems", backend.models_base.JSONType, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_key", "order_id", "episode"),
    )
    op.create_index("ix_rule_firing_rule_fired", "rule_firing", ["rule_key", "fired_at"], unique=False)
    op.create_index("ix_rule_firing_order_id", "rule_firing", ["order_id"], unique=False)
    op.create_table(
        "rule_order_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_fired_at", backend.models_base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fired_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_key", "order_id"),
    )
    op.create_index("ix_rule_order_state_order_id", "rule_order_state", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rule_order_state_order_id", table_name="rule_order_state")
    op.drop_table("rule_order_state")
    op.drop_index("ix_rule_firing_order_id", table_name="rule_firing")
    op.drop_index("ix_rule_firing_rule_fired", table_name="rule_firing")
    op.drop_table("rule_firing")
    op.drop_index("ix_rule_definition_enabled", table_name="rule_definition")
    op.drop_index("ix_rule_definition_key_status", table_name="rule_definition")
    op.drop_table("rule_definition")
