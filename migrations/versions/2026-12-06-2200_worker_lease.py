"""worker_lease: named leases with a timeout (replaces the scan's advisory lock)

A scanning worker frozen with SIGSTOP held PostgreSQL's session advisory lock forever and every
other worker stopped scanning (issue 18). A lease row expires and is taken over; its token
fences a late holder's writes (backend/worker/lease.py).

Revision ID: worker_0001
Revises: auth_0002
Create Date: 2026-12-06 22:00:00
"""
import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "worker_0001"
down_revision = "auth_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_lease",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_worker_lease"),
    )


def downgrade() -> None:
    op.drop_table("worker_lease")
