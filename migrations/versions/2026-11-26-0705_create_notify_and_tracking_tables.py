"""create notify channel, notification preference/dispatch and tracking tables

Revision ID: notify_0001
Revises: 0001
Create Date: 2026-11-26 07:00:21.745665
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.models_base

revision = 'notify_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notify_channel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('secret', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('options', backend.models_base.JSONType, nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('tracking_milestone',
    sa.Column('milestone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('is_notified', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('milestone')
    )
    op.create_table('notification_preference',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channels', backend.models_base.JSONType, nullable=False),
    sa.Column('quiet_start', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('quiet_end', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('is_digest', sa.Boolean(), nullable=False),
    sa.Column('digest_hour', sa.Integer(), nullable=False),
    sa.Column('last_digest_on', sa.Date(), nullable=True),
    sa.Column('updated_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('tracking_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', backend.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_viewed_at', backend.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token')
    )
    with op.batch_alter_table('tracking_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracking_link_order_id'), ['order_id'], unique=False)

    op.create_table('notification_dispatch',
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notification.id'], ),
    sa.PrimaryKeyConstraint('notification_id')
    )


def downgrade() -> None:
    op.drop_table('notification_dispatch')
    with op.batch_alter_table('tracking_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracking_link_order_id'))

    op.drop_table('tracking_link')
    op.drop_table('notification_preference')
    op.drop_table('tracking_milestone')
    op.drop_table('notify_channel')
