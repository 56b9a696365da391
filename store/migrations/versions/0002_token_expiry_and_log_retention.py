"""token expiry and log retention

Tokens may expire (`api_tokens.expires_at`, null: never); each workspace
remembers the highest status-event sequence retention has deleted
(`workspaces.pruned_through`, 0 for existing rows: nothing deleted yet).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 13:51:33.772873
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.columns

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', store.columns.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pruned_through', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('pruned_through')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
