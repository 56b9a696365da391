"""customer profiles and events

A customer gets data: `customers` (a profile per id and workspace, its
attributes a JSON object: `jsonb` on PostgreSQL) and `customer_events`
(what customers did, with properties, kept append-only until retention). A
version gains `audience_condition` (a segment journey's audience by
condition) and `trigger_where` (an event-triggered journey's filter on its
trigger's properties). A load's list becomes optional, and a load by
condition keeps its cursor in `loaded_after` (the last customer id offered).
Existing journeys are unchanged: their versions have neither, and their
loads have a list. The downgrade drops the new tables and columns; loads by
condition are removed with them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

import store.columns

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OBJECT = sa.JSON().with_variant(JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('attributes', _OBJECT, nullable=False),
    sa.Column('created_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'id')
    )
    op.create_table('customer_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('properties', _OBJECT, nullable=False),
    sa.Column('at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_customer_events_customer', 'customer_events',
                    ['workspace_id', 'customer_id', 'name', 'at'], unique=False)
    op.create_index('ix_customer_events_at', 'customer_events', ['at'], unique=False)
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience_condition', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('trigger_where', sa.JSON(), nullable=True))
    with op.batch_alter_table('audience_loads', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'loaded_after', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        ))
        batch_op.alter_column('list_pk', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM audience_loads WHERE list_pk IS NULL")
    with op.batch_alter_table('audience_loads', schema=None) as batch_op:
        batch_op.alter_column('list_pk', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('loaded_after')
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.drop_column('trigger_where')
        batch_op.drop_column('audience_condition')
    op.drop_index('ix_customer_events_at', table_name='customer_events')
    op.drop_index('ix_customer_events_customer', table_name='customer_events')
    op.drop_table('customer_events')
    op.drop_table('customers')
