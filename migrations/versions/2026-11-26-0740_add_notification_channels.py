"""add notification.channels (channels the sender asked for)

Revision ID: notify_0002
Revises: notify_0001
Create Date: 2026-11-26 07:40:00
"""
import sqlalchemy as sa
from alembic import op

import backend.models_base

revision = "notify_0002"
down_revision = "notify_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channels", backend.models_base.JSONType, nullable=False,
                                      server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("channels")
