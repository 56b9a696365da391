"""due enrollments per journey

An index on a journey's due enrollments (journey, due time, while INSIDE):
the step processor takes a share of every busy journey's due customers per
batch, so one journey's backlog never holds back another's first steps.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:48:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.create_index('ix_enrollments_journey_due', ['journey_id', 'due_at'], unique=False, sqlite_where=sa.text("state = 'INSIDE'"), postgresql_where=sa.text("state = 'INSIDE'"))


def downgrade() -> None:
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_index('ix_enrollments_journey_due', sqlite_where=sa.text("state = 'INSIDE'"), postgresql_where=sa.text("state = 'INSIDE'"))
