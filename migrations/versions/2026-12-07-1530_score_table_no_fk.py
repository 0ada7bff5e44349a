"""score1m3: foresight_score without foreign keys (issue 14: the first scoring of a million orders)

Every row inserted into foresight_score ran two foreign-key checks: a lookup of its order in
sales_order that also locks that order's row (FOR KEY SHARE: a WAL record per order and a write of
each sales_order page), and a lookup of its model. At a million orders the first scoring spent more
on these checks than on the inserts themselves (docs/benchmarks.md, "score1m3"). The rows are
derived data, written only by the scoring job and the pipeline's re-scoring for order ids they have
just read; the application deletes neither orders nor models. So the constraints go; the columns,
the primary key and the partial index stay. Downgrading adds them back (validated).

Revision ID: score1m3_0001
Revises: partscan_0001
Create Date: 2026-12-07 15:30:00
"""
from alembic import op

revision = "score1m3_0001"
down_revision = "partscan_0001"
branch_labels = None
depends_on = None

FKS = (("fk_foresight_score_order_id_sales_order", "order_id", "sales_order"),
       ("fk_foresight_score_model_id_foresight_model", "model_id", "foresight_model"))


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode); nothing references foresight_score, so it may
    with op.batch_alter_table("foresight_score") as batch:
        for name, _, _ in FKS:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("foresight_score") as batch:
        for name, column, table in FKS:
            batch.create_foreign_key(name, table, [column], ["id"])
