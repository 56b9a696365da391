"""initial tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 05:09:21.505046
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.columns

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('workspaces',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('last_sequence', sa.Integer(), nullable=False),
    sa.Column('created_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('api_tokens',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', store.columns.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('journeys',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('live_version', sa.Integer(), nullable=True),
    sa.Column('latest_version', sa.Integer(), nullable=False),
    sa.Column('start_at', store.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_at', store.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('trigger_event', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('status_before_error', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('error_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('audience_fully_entered', sa.Boolean(), nullable=False),
    sa.Column('copied_from_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', store.columns.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('journeys', schema=None) as batch_op:
        batch_op.create_index('ix_journeys_status_end_at', ['status', 'end_at'], unique=False)
        batch_op.create_index('ix_journeys_status_start_at', ['status', 'start_at'], unique=False)
        batch_op.create_index('ix_journeys_workspace_pk', ['workspace_id', 'pk'], unique=False)

    op.create_table('status_events',
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('journey_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('previous_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor_kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ),
    sa.PrimaryKeyConstraint('workspace_id', 'sequence')
    )
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.create_index('ix_status_events_journey', ['journey_id', 'sequence'], unique=False)

    op.create_table('journey_labels',
    sa.Column('journey_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.ForeignKeyConstraint(['journey_id'], ['journeys.id'], ),
    sa.PrimaryKeyConstraint('journey_id', 'label')
    )
    with op.batch_alter_table('journey_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journey_labels_label'), ['label'], unique=False)

    op.create_table('journey_versions',
    sa.Column('journey_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('start_at', store.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_at', store.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('trigger_event', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('created_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['journey_id'], ['journeys.id'], ),
    sa.PrimaryKeyConstraint('journey_id', 'number')
    )


def downgrade() -> None:
    op.drop_table('journey_versions')
    with op.batch_alter_table('journey_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journey_labels_label'))

    op.drop_table('journey_labels')
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.drop_index('ix_status_events_journey')

    op.drop_table('status_events')
    with op.batch_alter_table('journeys', schema=None) as batch_op:
        batch_op.drop_index('ix_journeys_workspace_pk')
        batch_op.drop_index('ix_journeys_status_start_at')
        batch_op.drop_index('ix_journeys_status_end_at')

    op.drop_table('journeys')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_workspace_id'))

    op.drop_table('api_tokens')
    op.drop_table('workspaces')
