"""order list indexes: stage + creation order; trigram search on PostgreSQL

Measured with bench/orders_list.py on 1,000,000 orders (docs/benchmarks.md):
- `stage = X ORDER BY created_at DESC, id DESC` walked the creation index backwards and filtered
  (108,000 rows read for 51 when the stage's orders are not the newest, e.g. finance's "payment"):
  (stage, created_at, id) turns it into one index range scan, on both databases.
- free text (`ILIKE '%…%'` on number, external id and customer name) read the whole table when
  nothing matched (4.2 s for an order number): GIN trigram indexes let PostgreSQL OR the three
  together (35 ms). pg_trgm ships with PostgreSQL and is a trusted extension (no superuser from
  PG 13); where it cannot be created the trigram indexes are left out and search still works.

Revision ID: orders_0002
Revises: 0001
Create Date: 2026-11-26 07:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "orders_0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRIGRAM = (("ix_sales_order_number_trgm", "sales_order", "number"),
           ("ix_sales_order_external_id_trgm", "sales_order", "external_id"),
           ("ix_customer_name_trgm", "customer", "name"))


def upgrade() -> None:
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.create_index("ix_sales_order_stage_created", ["stage", "created_at", "id"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _trigram_available(bind):
        return
    for name, table, column in TRIGRAM:
        op.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _column in TRIGRAM:
            op.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_order_stage_created")


def _trigram_available(bind) -> bool:
    if bind.execute(sa.text("select 1 from pg_extension where extname = 'pg_trgm'")).first():
        return True
    if not bind.execute(sa.text("select 1 from pg_available_extensions where name = 'pg_trgm'")).first():
        return False
    # a savepoint, so that a refused CREATE EXTENSION (no privilege) does not abort the migration
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return False
    return True
