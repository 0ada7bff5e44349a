"""foresight: stored scores on sales_order, the model registry, training runs, explanations (issue 14)

Four nullable columns on sales_order (empty until the worker scores) and three new tables; existing
data is untouched.

Revision ID: foresight_0001
Revises: ocr_0001
Create Date: 2026-12-07 05:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import JSONType, UTCDateTime

revision = "foresight_0001"
down_revision = "autodecide_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales_order") as batch:
        batch.add_column(sa.Column("predicted_stage_done_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("predicted_completion_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("delay_probability", sa.Float(), nullable=True))
        batch.add_column(sa.Column("stage_p90_hours", sa.Float(), nullable=True))
    op.create_index("ix_sales_order_delay_probability", "sales_order", ["delay_probability", "id"])
    op.create_table(
        "foresight_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("report", JSONType, nullable=False),
        sa.Column("closed_orders", sa.Integer(), nullable=False),
        sa.Column("trained_from", UTCDateTime(), nullable=True),
        sa.Column("trained_to", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_foresight_model_live", "foresight_model", ["live"])
    op.create_table(
        "foresight_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=40), nullable=True),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("went_live", sa.Boolean(), nullable=False),
        sa.Column("error", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["requested_by"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["model_id"], ["foresight_model.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_foresight_run_state_created", "foresight_run", ["state", "created_at"])
    op.create_table(
        "foresight_score",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("stage_done_p90_at", UTCDateTime(), nullable=True),
        sa.Column("completion_p90_at", UTCDateTime(), nullable=True),
        sa.Column("reasons", JSONType, nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"]),
        sa.ForeignKeyConstraint(["model_id"], ["foresight_model.id"]),
        sa.PrimaryKeyConstraint("order_id"),
    )


def downgrade() -> None:
    op.drop_table("foresight_score")
    op.drop_index("ix_foresight_run_state_created", table_name="foresight_run")
    op.drop_table("foresight_run")
    op.drop_index("ix_foresight_model_live", table_name="foresight_model")
    op.drop_table("foresight_model")
    op.drop_index("ix_sales_order_delay_probability", table_name="sales_order")
    with op.batch_alter_table("sales_order") as batch:
        batch.drop_column("stage_p90_hours")
        batch.drop_column("delay_probability")
        batch.drop_column("predicted_completion_at")
        batch.drop_column("predicted_stage_done_at")
