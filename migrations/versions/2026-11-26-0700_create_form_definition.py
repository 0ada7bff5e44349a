"""create form_definition

Revision ID: forms_0001
Revises: 0001
Create Date: 2026-11-26 07:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.models_base

revision = "forms_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "form_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("definition", backend.models_base.JSONType, nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", backend.models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.models_base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", backend.models_base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "version"),
    )
    op.create_index("ix_form_definition_key_status", "form_definition", ["key", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_form_definition_key_status", table_name="form_definition")
    op.drop_table("form_definition")
