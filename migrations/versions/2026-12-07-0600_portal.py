"""portal: external parties, their portal links and portal users (issue 16)

New tables only; existing data is untouched.

Revision ID: portal_0001
Revises: ocr_0001
Create Date: 2026-12-07 06:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "portal_0001"
down_revision = "ocr_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("robot_channel_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["robot_channel_id"], ["notify_channel.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "portal_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("node_key", sa.String(length=64), nullable=True),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["party_id"], ["external_party.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_portal_link_party_id", "portal_link", ["party_id"])
    op.create_index("ix_portal_link_order_id", "portal_link", ["order_id"])
    op.create_table(
        "portal_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["party_id"], ["external_party.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_index("ix_portal_user_party_id", "portal_user", ["party_id"])


def downgrade() -> None:
    op.drop_index("ix_portal_user_party_id", table_name="portal_user")
    op.drop_table("portal_user")
    op.drop_index("ix_portal_link_order_id", table_name="portal_link")
    op.drop_index("ix_portal_link_party_id", table_name="portal_link")
    op.drop_table("portal_link")
    op.drop_table("external_party")
