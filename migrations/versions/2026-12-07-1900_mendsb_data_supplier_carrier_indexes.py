"""an expression index on the designed field data.supplier of sales orders

The change-driven priority scores (backend/scores/service.py: the open orders of a marked
supplier, and that supplier's closed samples) and the automatic decisions' history
(backend/flows/autodecide.py) look orders up by `data.supplier`: without an index that is a scan of
every order (at 200,000 orders a drain of one supplier's mark took 7.4 s, 0.6 s with it:
docs/benchmarks.md, mendsb). The expression is exactly what engine/facts/sql.py DataText renders
(an index serves only the identical expression): PostgreSQL `(data ->> 'supplier')`, SQLite
`json_extract(data, '$.supplier')`. Not declared on the model (the expression differs by dialect;
migrations/env.py leaves it alone). Data is kept; going back drops the index.

No index on data.carrier: carriers are few (a handful of couriers), each with a large share of
the orders, so an index finds no small set; a carrier's orders also come from its shipments (the
latest shipment's carrier wins), and routing the drain through an index there made PostgreSQL
misjudge thousands of rows as one and nest loops (24 s against 13 s without, same bench).

Revision ID: mendsb_0001
Revises: insight1m_0001
Create Date: 2026-12-07 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "mendsb_0001"
down_revision = "insight1m_0001"
branch_labels = None
depends_on = None

KEYS = ("supplier",)


def _expression(dialect: str, key: str) -> str:
    return f"(data ->> '{key}')" if dialect == "postgresql" else f"json_extract(data, '$.{key}')"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for key in KEYS:
        op.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_sales_order_data_{key} "
                           f"ON sales_order ({_expression(dialect, key)})"))


def downgrade() -> None:
    for key in KEYS:
        op.execute(sa.text(f"DROP INDEX IF EXISTS ix_sales_order_data_{key}"))
