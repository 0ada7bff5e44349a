"""customers: several contacts per customer (customer_contact), the single contact moved into it

A customer had one contact (contact_name, email, phone, preferred_locale on its own row). Each
customer that had any of them gets one primary contact with those values; the customer's columns
stay and mirror the primary contact (the senders read them).

Revision ID: contacts_0001
Revises: dryrun_0001
Create Date: 2026-12-07 00:20:00
"""

import sqlalchemy as sa
from alembic import op

import backend.models_base

revision = "contacts_0001"
down_revision = "dryrun_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_contact",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customer.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=80), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", backend.models_base.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_customer_contact_customer_id", "customer_contact", ["customer_id"])
    op.execute(
        "INSERT INTO customer_contact (customer_id, name, phone, email, locale, is_primary, position, created_at) "
        "SELECT id, SUBSTR(COALESCE(contact_name, name), 1, 120), phone, email, preferred_locale, true, 0, created_at "
        "FROM customer WHERE contact_name IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_customer_contact_customer_id", table_name="customer_contact")
    op.drop_table("customer_contact")
