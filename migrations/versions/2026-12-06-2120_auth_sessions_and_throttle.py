"""auth: revocable sign-ins (auth_session, app_user.token_generation) and an atomic login throttle

Revision ID: auth_0002
Revises: ingest_0002
Create Date: 2026-12-06 21:20:00

`auth_login_attempt` (one row per failure, counted then inserted: concurrent guesses all read "under
the limit") is replaced by `auth_login_throttle` (one row per key, counted with conditional
UPDATEs). Its rows are only a minute's failures, so nothing worth keeping is dropped.
"""

import sqlalchemy as sa
from alembic import op

from backend.models_base import UTCDateTime

revision = "auth_0002"
down_revision = "ingest_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "auth_session",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_auth_session_user_id_app_user"),
                  nullable=False),
        sa.Column("token_generation", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_auth_session"),
    )
    op.create_index("ix_auth_session_user_id", "auth_session", ["user_id"])
    op.create_table(
        "auth_login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_started_at", UTCDateTime(), nullable=False),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_auth_login_throttle"),
    )
    op.drop_index("ix_auth_login_attempt_at", table_name="auth_login_attempt")
    op.drop_index("ix_auth_login_attempt_key", table_name="auth_login_attempt")
    op.drop_table("auth_login_attempt")


def downgrade() -> None:
    op.create_table(
        "auth_login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auth_login_attempt"),
    )
    op.create_index("ix_auth_login_attempt_at", "auth_login_attempt", ["at"])
    op.create_index("ix_auth_login_attempt_key", "auth_login_attempt", ["key"])
    op.drop_table("auth_login_throttle")
    op.drop_index("ix_auth_session_user_id", table_name="auth_session")
    op.drop_table("auth_session")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("token_generation")
