"""sales_order: drop three indexes no query uses (issue 13: every index is upkept by every insert)

Evidence (bench/index_review.py, EXPLAIN ANALYZE of the real order list and numbering queries on a
populated database; docs/ingest.md "Indexes of sales_order"):
- `ix_sales_order_owner_id (owner_id)` is the prefix of `ix_sales_order_owner_created (owner_id,
  created_at, id)`: every lookup by owner (a sales rep's list, a team's, the foreign key's checks
  when a user row is deleted) is served by the composite index as well.
- `ix_sales_order_number_trgm`, `ix_sales_order_external_id_trgm` (GIN, pg_trgm): the list's free
  text ORs the number and external id with the designed text fields (`data->>'product'`, ...,
  since the search reads them), which no index covers, so PostgreSQL cannot OR index scans and
  reads the table: the plans are the same with and without them. Numbering uses the unique btree.
  `ix_customer_name_trgm` (customer) stays: the customer-name match is its own query.
Downgrade recreates all three (the trigram ones where pg_trgm is installed).

Revision ID: bulk5_0001
Revises: reportfast_0001
Create Date: 2026-12-07 12:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "bulk5_0001"
down_revision = "reportfast_0001"
branch_labels = None
depends_on = None

TRIGRAM = (("ix_sales_order_number_trgm", "number"), ("ix_sales_order_external_id_trgm", "external_id"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _column in TRIGRAM:
            op.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_order_owner_id")


def downgrade() -> None:
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.create_index("ix_sales_order_owner_id", ["owner_id"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.execute(
            sa.text("select 1 from pg_extension where extname = 'pg_trgm'")).first():
        for name, column in TRIGRAM:
            op.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON sales_order USING gin ({column} gin_trgm_ops)"))
