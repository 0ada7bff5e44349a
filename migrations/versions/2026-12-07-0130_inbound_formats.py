"""inbound source formats: the sender's own body shape and signature scheme (issue 13)

Adds columns to inbound_source; existing sources keep Gendan's format and scheme.

Revision ID: webhookfmt_0001
Revises: connectors_0001
Create Date: 2026-12-07 01:30:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType

revision = "webhookfmt_0001"
down_revision = "connectors_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_source") as batch:
        batch.add_column(sa.Column("body_format", sa.String(length=20), nullable=False, server_default="gendan"))
        batch.add_column(sa.Column("mapped", JSONType, nullable=True))
        batch.add_column(sa.Column("signature", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_source") as batch:
        batch.drop_column("signature")
        batch.drop_column("mapped")
        batch.drop_column("body_format")
