"""delivery public ids

A delivery's id as its channel shows it (the webhook's `deliveryId` and
`X-Journeys-Delivery`): `deliveries.public_id`, random (122 bits or more).
The row id, which the channel showed before, is one sequence for every
workspace: a receiver could count the messages other workspaces sent.
Existing deliveries get a random id each: a message attempted before the
upgrade and again after it arrives under a new id once (its earlier
attempts carried the row id). The downgrade drops the column; the channel
then shows row ids again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # A volatile default gives each existing row its own value in the one rewrite
        # that adding the column makes; the INSERT that writes deliveries gives the
        # value from then on, so no default stays.
        op.add_column('deliveries', sa.Column(
            'public_id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False
        ))
        op.alter_column('deliveries', 'public_id', server_default=None)
    else:
        # SQLite adds a column only with a constant default: added empty, filled in
        # (a Uuid is stored there as 32 lowercase hex digits), then made NOT NULL by
        # batch mode's copy of the table.
        with op.batch_alter_table('deliveries', schema=None) as batch_op:
            batch_op.add_column(sa.Column('public_id', sa.Uuid(), nullable=True))
        op.execute("UPDATE deliveries SET public_id = lower(hex(randomblob(16)))")
        with op.batch_alter_table('deliveries', schema=None) as batch_op:
            batch_op.alter_column('public_id', existing_type=sa.Uuid(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('public_id')
