"""merge parallel branches

The first build session grew one branch per area (forms, flows, rules, notify, ingest, order
indexes) from the foundation; this joins them so there is one head again. No schema change.

Revision ID: 0002_merge
Revises: forms_0001, flows_0001, rules_0001, notify_0002, ingest_0001, orders_0003
Create Date: 2026-11-26 08:46:51.807883
"""


revision = '0002_merge'
down_revision = ('forms_0001', 'flows_0001', 'rules_0001', 'notify_0002', 'ingest_0001', 'orders_0003')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
