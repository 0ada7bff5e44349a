"""audit: the audit_event table (who changed which master data, before and after)

Revision ID: audit_0001
Revises: rules_0002
Create Date: 2026-11-26 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.models_base import UTCDateTime

revision = "audit_0001"
down_revision = "rules_0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_key", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("before", JSON, nullable=False),
        sa.Column("after", JSON, nullable=False),
    )
    op.create_index("ix_audit_event_at_id", "audit_event", ["at", "id"])
    op.create_index("ix_audit_event_entity", "audit_event", ["entity_type", "entity_key", "at", "id"])
    op.create_index("ix_audit_event_actor_id", "audit_event", ["actor_id"])


def downgrade() -> None:
    op.drop_table("audit_event")
