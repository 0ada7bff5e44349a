"""ingest: re-imports update orders (counts per outcome, one result row per line), and sources
that create unknown customers by code

Issue 17: a re-imported order was neither updated nor reported. A job now counts updated and
unchanged rows apart (`existing_count` stays their sum), and `import_row_result` keeps what
became of every line for the per-row download. `inbound_source.creates_customers` lets a webhook
create a customer it names by an unknown code. Existing jobs and sources keep their rows; their
new counters start at 0 and their sources do not create customers (today's behaviour).

Revision ID: importux_0001
Revises: calendar_0001
Create Date: 2026-12-07 00:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType

revision = "importux_0001"
down_revision = "calendar_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_job") as batch:
        batch.add_column(sa.Column("updated_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("unchanged_count", sa.Integer(), nullable=False, server_default="0"))
    # jobs before this revision counted every existing order as unchanged (they never updated one)
    op.execute("UPDATE import_job SET unchanged_count = existing_count")
    with op.batch_alter_table("inbound_source") as batch:
        batch.add_column(sa.Column("creates_customers", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "import_row_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_job_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=120), nullable=True),
        sa.Column("changed", JSONType, nullable=False),
        sa.ForeignKeyConstraint(["import_job_id"], ["import_job.id"],
                                name="fk_import_row_result_import_job_id_import_job"),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"], name="fk_import_row_result_order_id_sales_order"),
        sa.PrimaryKeyConstraint("id", name="pk_import_row_result"),
    )
    op.create_index("ix_import_row_result_job_line", "import_row_result", ["import_job_id", "line"])


def downgrade() -> None:
    op.drop_index("ix_import_row_result_job_line", table_name="import_row_result")
    op.drop_table("import_row_result")
    with op.batch_alter_table("inbound_source") as batch:
        batch.drop_column("creates_customers")
    with op.batch_alter_table("import_job") as batch:
        batch.drop_column("unchanged_count")
        batch.drop_column("updated_count")
