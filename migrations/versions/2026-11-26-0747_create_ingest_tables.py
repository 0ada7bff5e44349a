"""create import_job, inbound_source, inbound_delivery (CSV imports and signed webhooks)

Revision ID: ingest_0001
Revises: 0001
Create Date: 2026-11-26 07:47:18.382163
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.models_base

revision = 'ingest_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('encoding', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('delimiter', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
    sa.Column('headers', backend.models_base.JSONType, nullable=False),
    sa.Column('mapping', backend.models_base.JSONType, nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=False),
    sa.Column('next_row', sa.Integer(), nullable=False),
    sa.Column('created_count', sa.Integer(), nullable=False),
    sa.Column('existing_count', sa.Integer(), nullable=False),
    sa.Column('failed_count', sa.Integer(), nullable=False),
    sa.Column('errors', backend.models_base.JSONType, nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', backend.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', backend.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_until', backend.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_job_created_by'), ['created_by'], unique=False)
        batch_op.create_index('ix_import_job_state_locked', ['state', 'locked_until'], unique=False)

    op.create_table('import_row_error',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_job_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('cells', backend.models_base.JSONType, nullable=False),
    sa.Column('errors', backend.models_base.JSONType, nullable=False),
    sa.ForeignKeyConstraint(['import_job_id'], ['import_job.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('import_row_error', schema=None) as batch_op:
        batch_op.create_index('ix_import_row_error_job_line', ['import_job_id', 'line'], unique=False)

    op.create_table('inbound_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('secret', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('acts_as_id', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['acts_as_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('inbound_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('received_at', backend.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_accepted', sa.Boolean(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('params', backend.models_base.JSONType, nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('body_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('body_size', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['inbound_source.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inbound_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_delivery_source_at', ['source_key', 'received_at', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inbound_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_delivery_source_at')

    op.drop_table('inbound_delivery')
    op.drop_table('inbound_source')
    with op.batch_alter_table('import_row_error', schema=None) as batch_op:
        batch_op.drop_index('ix_import_row_error_job_line')

    op.drop_table('import_row_error')
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.drop_index('ix_import_job_state_locked')
        batch_op.drop_index(batch_op.f('ix_import_job_created_by'))

    op.drop_table('import_job')
