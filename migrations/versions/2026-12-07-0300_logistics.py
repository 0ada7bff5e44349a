"""logistics: tracking sources, shipments and their tracking events; the order's signed_at (issue 13)

New tables and one nullable column; existing data is untouched.

Revision ID: logistics_0001
Revises: webhookfmt_0001
Create Date: 2026-12-07 03:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType, UTCDateTime

revision = "logistics_0001"
down_revision = "mapping_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("push_key", sa.String(length=64), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", JSONType, nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("poll_minutes", sa.Integer(), nullable=False),
        sa.Column("last_poll_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", JSONType, nullable=True),
        sa.Column("last_push_at", UTCDateTime(), nullable=True),
        sa.Column("last_push_error", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_source"),
        sa.UniqueConstraint("name", name="uq_tracking_source_name"),
        sa.UniqueConstraint("push_key", name="uq_tracking_source_push_key"),
    )
    op.create_table(
        "shipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=80), nullable=False),
        sa.Column("tracking_no", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", UTCDateTime(), nullable=True),
        sa.Column("next_poll_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", JSONType, nullable=True),
        sa.Column("signed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"], name="fk_shipment_order_id_sales_order"),
        sa.PrimaryKeyConstraint("id", name="pk_shipment"),
        sa.UniqueConstraint("order_id", "carrier", "tracking_no", name="uq_shipment_order_id_carrier_tracking_no"),
    )
    op.create_index("ix_shipment_order_id", "shipment", ["order_id"])
    op.create_index("ix_shipment_due", "shipment", ["is_active", "next_poll_at"])
    op.create_index("ix_shipment_tracking_no", "shipment", ["tracking_no"])
    op.create_table(
        "shipment_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("context", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("raw_status", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipment.id"], name="fk_shipment_event_shipment_id_shipment"),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_event"),
        sa.UniqueConstraint("shipment_id", "at", "context", name="uq_shipment_event_shipment_id_at_context"),
    )
    op.create_index("ix_shipment_event_shipment_at", "shipment_event", ["shipment_id", "at"])
    with op.batch_alter_table("sales_order") as batch:
        batch.add_column(sa.Column("signed_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales_order") as batch:
        batch.drop_column("signed_at")
    op.drop_index("ix_shipment_event_shipment_at", table_name="shipment_event")
    op.drop_table("shipment_event")
    op.drop_index("ix_shipment_tracking_no", table_name="shipment")
    op.drop_index("ix_shipment_due", table_name="shipment")
    op.drop_index("ix_shipment_order_id", table_name="shipment")
    op.drop_table("shipment")
    op.drop_table("tracking_source")
