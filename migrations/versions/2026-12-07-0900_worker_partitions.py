"""worker_heartbeat, worker_partition: horizontal workers, a lease per (job, order partition)

Work keyed by order (the due batches) is split over any number of `gendan worker` processes by
`order_id % P`; each worker holds a fair share of the partitions under leases that a killed
worker's peers take over within seconds (backend/worker/partitions.py, issue 15).

Revision ID: workers_0001
Revises: schedule_0001
Create Date: 2026-12-07 09:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "workers_0001"
down_revision = "schedule_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeat",
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=60), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("holder", name="pk_worker_heartbeat"),
    )
    op.create_table(
        "worker_partition",
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job", "partition", name="pk_worker_partition"),
    )


def downgrade() -> None:
    op.drop_table("worker_partition")
    op.drop_table("worker_heartbeat")
