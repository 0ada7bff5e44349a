"""inbound_delivery: dedupe key, the sender's timestamp and the client address

A replayed signed delivery was applied again, and an older one replayed after a newer one rolled
the order back (issue 18). Accepted deliveries now keep a unique (source, dedupe key) and the
sender's timestamp, so a repeat is refused and an update older than the order's last is stale;
the client address bounds how fast strangers can fill the log with unknown source keys.

Revision ID: ingest_0002
Revises: audit_0001
Create Date: 2026-12-06 21:10:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "ingest_0002"
down_revision = "audit_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("sent_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("remote_addr", sa.String(length=64), nullable=True))
        batch_op.create_index("uq_inbound_delivery_source_dedupe", ["source_id", "dedupe_key"], unique=True)
        batch_op.create_index("ix_inbound_delivery_order_sent", ["source_id", "external_id", "sent_at"], unique=False)
        batch_op.create_index("ix_inbound_delivery_remote_at", ["remote_addr", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_delivery_remote_at")
        batch_op.drop_index("ix_inbound_delivery_order_sent")
        batch_op.drop_index("uq_inbound_delivery_source_dedupe")
        batch_op.drop_column("remote_addr")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("dedupe_key")
