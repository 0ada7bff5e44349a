"""rules: remember "from now on" (start_from_now) when a rule is enabled or republished

Enabling a rule used to fire it on every order already matching (24,365 to-dos on loaded
history). The admin now chooses; the scan reads the choice while it records the rule's baseline.
Existing rows keep the old meaning (False: the orders matching now fire).

Revision ID: dryrun_0001
Revises: importux_0001
Create Date: 2026-12-07 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "dryrun_0001"
down_revision = "importux_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rule_definition",
                  sa.Column("start_from_now", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("rule_definition") as batch:
        batch.drop_column("start_from_now")
