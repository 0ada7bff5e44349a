"""rule_scan_partition: the scan's and the reconciliation's progress per (rule, order partition)

The one-pass scan of time rules (and the hourly reconciliation of the indexed ones) runs per order
partition in whichever worker holds it (issue 15): a rule's baseline and last scan time are kept
per partition, so a killed worker's partitions are reconciled by the worker that takes them over.
Existing rules start without rows: their next pass records each partition's baseline again (the
match words kept in rule_order_mask / rule_reconcile_mask are unchanged, so nothing fires twice).

Revision ID: partscan_0001
Revises: whatif2_0001
Create Date: 2026-12-07 13:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "partscan_0001"
down_revision = "whatif2_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_scan_partition",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("scanned_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["rule_id"], ["rule_definition.id"],
                                name="fk_rule_scan_partition_rule_id_rule_definition"),
        sa.PrimaryKeyConstraint("rule_id", "partition", name="pk_rule_scan_partition"),
    )


def downgrade() -> None:
    op.drop_table("rule_scan_partition")
