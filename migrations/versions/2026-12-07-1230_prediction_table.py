"""predtable: the predictions move from sales_order to the narrow foresight_score (issue 14)

sales_order's four prediction columns (predicted_stage_done_at, predicted_completion_at,
delay_probability, stage_p90_hours) and their index move to foresight_score, one row per scored
order, so scoring a million orders writes narrow rows with two indexes instead of sales_order's
wide rows with eighteen (docs/foresight.md). Upgrading copies every stored prediction (an order
with a prediction but no foresight_score row gets one, basis "model", scored now); downgrading
copies them back. The table stays logged: a crash keeps the predictions the facts and rules read.

Revision ID: predtable_0001
Revises: score1m_0001
Create Date: 2026-12-07 12:30:00
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "predtable_0001"
down_revision = "score1m_0001"
branch_labels = None
depends_on = None

COLUMNS = ("predicted_stage_done_at", "predicted_completion_at", "delay_probability", "stage_p90_hours")


def _add(batch) -> None:
    batch.add_column(sa.Column("predicted_stage_done_at", UTCDateTime(), nullable=True))
    batch.add_column(sa.Column("predicted_completion_at", UTCDateTime(), nullable=True))
    batch.add_column(sa.Column("delay_probability", sa.Float(), nullable=True))
    batch.add_column(sa.Column("stage_p90_hours", sa.Float(), nullable=True))


def _drop(batch) -> None:
    for name in reversed(COLUMNS):
        batch.drop_column(name)


def upgrade() -> None:
    with op.batch_alter_table("foresight_score") as batch:
        _add(batch)
    listed = ", ".join(COLUMNS)
    some = " OR ".join(f"o.{c} IS NOT NULL" for c in COLUMNS)
    now = sa.bindparam("now", datetime.now(UTC), type_=UTCDateTime())
    op.execute(sa.text(f"INSERT INTO foresight_score (order_id, basis, reasons, scored_at) "
                       f"SELECT o.id, 'model', 'null', :now FROM sales_order o WHERE ({some}) "
                       f"AND NOT EXISTS (SELECT 1 FROM foresight_score s WHERE s.order_id = o.id)").bindparams(now))
    op.execute(f"UPDATE foresight_score SET ({listed}) = (SELECT {', '.join('o.' + c for c in COLUMNS)} "
               f"FROM sales_order o WHERE o.id = foresight_score.order_id)")
    scored = sa.text("delay_probability IS NOT NULL")
    op.create_index("ix_foresight_score_delay_probability", "foresight_score", ["delay_probability", "order_id"],
                    postgresql_where=scored, sqlite_where=scored)
    if op.get_bind().dialect.name == "postgresql":
        # room on each page for the re-scoring's new row version: an update that leaves
        # delay_probability as it was is then HOT (no index entry); measured 1.1 of 2.06 M updates
        op.execute("ALTER TABLE foresight_score SET (fillfactor = 70)")
    op.drop_index("ix_sales_order_delay_probability", table_name="sales_order")
    # a plain ALTER on both databases: SQLite's batch mode would rebuild sales_order, which the rows
    # referencing it (foresight_score, order_event, ...) forbid with foreign keys on
    for name in reversed(COLUMNS):
        op.execute(f"ALTER TABLE sales_order DROP COLUMN {name}")


def downgrade() -> None:
    with op.batch_alter_table("sales_order") as batch:
        _add(batch)
    listed = ", ".join(COLUMNS)
    op.execute(f"UPDATE sales_order SET ({listed}) = (SELECT {', '.join('s.' + c for c in COLUMNS)} "
               f"FROM foresight_score s WHERE s.order_id = sales_order.id) "
               f"WHERE id IN (SELECT order_id FROM foresight_score)")
    op.create_index("ix_sales_order_delay_probability", "sales_order", ["delay_probability", "id"])
    op.drop_index("ix_foresight_score_delay_probability", table_name="foresight_score")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE foresight_score RESET (fillfactor)")
    with op.batch_alter_table("foresight_score") as batch:
        _drop(batch)
