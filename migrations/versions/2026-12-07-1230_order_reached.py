"""the order's delivered_at and stages_entered: reports over all time read a column, not the event log (issue 16)

Two columns on sales_order (engine/reports/reached.py): `delivered_at` (signed for, else the first
time the order entered delivered, invoicing, payment or completed) and `stages_entered` (a bit per
stage the order has ever entered). Both are filled from the event log here, set-based: one grouped
pass over the events that carry a stage, one UPDATE joined to it, then the signed orders without
such events. And a partial index on the order events a customer's attention leaves (urged, message,
reply) by time. Existing data is kept; going back drops the two columns and the index.

Revision ID: reportfast_0001
Revises: predtable_0001
Create Date: 2026-12-07 12:30:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "reportfast_0001"
down_revision = "predtable_0001"
branch_labels = None
depends_on = None

# as engine/reports/reached.py has them today (a migration does not follow later code changes)
DELIVERED_STAGES = ("delivered", "invoicing", "payment", "completed")
FUNNEL_STAGES = ("draft", "approval", "tech_confirm", "production", "shipping", "delivered", "invoicing", "payment",
                 "completed", "rejected", "returned")
OTHER_STAGE_BIT = 1 << 62
MESSAGES = "type IN ('urged', 'customer_message', 'customer_reply')"


def _backfill(stage: str) -> None:
    """`stage`: the SQL of an event's entered stage on this dialect."""
    bits = " ".join(f"WHEN '{s}' THEN {1 << i}" for i, s in enumerate(FUNNEL_STAGES))
    delivered = ", ".join(f"'{s}'" for s in DELIVERED_STAGES)
    grouped = (f"SELECT order_id, min(CASE WHEN {stage} IN ({delivered}) THEN at END) AS first_delivered, "
               f"sum(DISTINCT CASE {stage} {bits} ELSE {OTHER_STAGE_BIT} END) AS mask "
               f"FROM order_event WHERE {stage} IS NOT NULL GROUP BY order_id")
    mask = "CAST(f.mask AS BIGINT)" if op.get_bind().dialect.name == "postgresql" else "f.mask"
    op.execute(f"UPDATE sales_order SET delivered_at = coalesce(sales_order.signed_at, f.first_delivered), "
               f"stages_entered = {mask} FROM ({grouped}) AS f WHERE f.order_id = sales_order.id")
    op.execute("UPDATE sales_order SET delivered_at = signed_at WHERE delivered_at IS NULL AND signed_at IS NOT NULL")


def upgrade() -> None:
    op.add_column("sales_order", sa.Column("delivered_at", UTCDateTime(), nullable=True))
    op.add_column("sales_order", sa.Column("stages_entered", sa.BigInteger(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        _backfill("(after ->> 'stage')")
    else:
        _backfill("json_extract(after, '$.stage')")
    # the day-one "urges and customer messages per week" over all time read the whole event log
    # (a sequential scan of 8,000,000 events at 1 M orders: 3.6 s for no row); partial: no other
    # event type writes to it
    op.create_index("ix_order_event_messages", "order_event", ["at"], postgresql_where=sa.text(MESSAGES),
                    sqlite_where=sa.text(MESSAGES))


def downgrade() -> None:
    op.drop_index("ix_order_event_messages", table_name="order_event")
    # ALTER TABLE … DROP COLUMN on both (SQLite ≥ 3.35): a batch copy of sales_order would have to
    # drop the table the order events point at
    op.drop_column("sales_order", "stages_entered")
    op.drop_column("sales_order", "delivered_at")
