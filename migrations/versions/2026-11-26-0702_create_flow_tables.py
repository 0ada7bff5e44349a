"""create flow tables

Revision ID: flows_0001
Revises: 0001
Create Date: 2026-11-26 07:02:14.549215
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.models_base

revision = 'flows_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('flow_definition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('definition', backend.models_base.JSONType, nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', backend.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', 'version')
    )
    with op.batch_alter_table('flow_definition', schema=None) as batch_op:
        batch_op.create_index('ix_flow_definition_key_status', ['key', 'status'], unique=False)

    op.create_table('flow_instance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('flow_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('flow_version', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('state', backend.models_base.JSONType, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['definition_id'], ['flow_definition.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], ),
    sa.ForeignKeyConstraint(['started_by_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('flow_instance', schema=None) as batch_op:
        batch_op.create_index('ix_flow_instance_order', ['order_id', 'id'], unique=False)

    op.create_table('flow_timer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('fire_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', backend.models_base.JSONType, nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('locked_until', backend.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fired_at', backend.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['flow_instance.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('flow_timer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flow_timer_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_flow_timer_state_fire_at', ['state', 'fire_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('flow_timer', schema=None) as batch_op:
        batch_op.drop_index('ix_flow_timer_state_fire_at')
        batch_op.drop_index(batch_op.f('ix_flow_timer_instance_id'))

    op.drop_table('flow_timer')
    with op.batch_alter_table('flow_instance', schema=None) as batch_op:
        batch_op.drop_index('ix_flow_instance_order')

    op.drop_table('flow_instance')
    with op.batch_alter_table('flow_definition', schema=None) as batch_op:
        batch_op.drop_index('ix_flow_definition_key_status')

    op.drop_table('flow_definition')
