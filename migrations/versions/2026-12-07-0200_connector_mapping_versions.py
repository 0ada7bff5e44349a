"""connector mapping versions: each save of a connector's mapping is kept (issue 13, mapping editor)

Existing connectors get their current mapping as version 1 (saved by their owner).

Revision ID: mapping_0001
Revises: webhookfmt_0001
Create Date: 2026-12-07 02:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType, UTCDateTime

revision = "mapping_0001"
down_revision = "webhookfmt_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_mapping_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("mapping", JSONType, nullable=False),
        sa.Column("saved_by", sa.Integer(), nullable=True),
        sa.Column("saved_at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(["connector_id"], ["connector.id"],
                                name="fk_connector_mapping_version_connector_id_connector"),
        sa.ForeignKeyConstraint(["saved_by"], ["app_user.id"], name="fk_connector_mapping_version_saved_by_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_connector_mapping_version"),
        sa.UniqueConstraint("connector_id", "version", name="uq_connector_mapping_version_connector_id_version"),
    )
    op.execute("INSERT INTO connector_mapping_version (connector_id, version, mapping, saved_by, saved_at) "
               "SELECT id, 1, mapping, owner_id, updated_at FROM connector")


def downgrade() -> None:
    op.drop_table("connector_mapping_version")
