"""expression indexes on the designed fields data.supplier and data.carrier of sales orders

The change-driven priority scores (backend/scores/service.py: the open orders of a marked supplier,
and the closed samples of the suppliers and carriers a change touches) and the automatic
decisions' history (backend/flows/autodecide.py) look orders up by `data.supplier` /
`data.carrier`: without an index that is a scan of every order (figures: docs/benchmarks.md,
mendsb). The expressions are exactly what engine/facts/sql.py DataText renders (an index serves
only the identical expression): PostgreSQL `(data ->> 'supplier')`, SQLite
`json_extract(data, '$.supplier')`. Not declared on the model (the expression differs by dialect;
migrations/env.py leaves them alone). Data is kept; going back drops the two indexes.

The open orders of a marked carrier are still found by the exact expression (the latest
shipment's carrier, else the field), not through the index: carriers are few, each with a large
share of the orders, and a superset there widened the carriers recomputed.

Revision ID: mendsb_0001
Revises: stagetime_0001
Create Date: 2026-12-07 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "mendsb_0001"
down_revision = "stagetime_0001"
branch_labels = None
depends_on = None

KEYS = ("supplier", "carrier")


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
