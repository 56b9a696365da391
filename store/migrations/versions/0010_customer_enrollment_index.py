"""customer enrollment index

`ix_enrollments_customer`: a customer's enrollments by its id, for the
look-up of a customer (its journeys) and its erasure, which otherwise scan
every enrollment. Its deliveries are found through these enrollments
(`ux_deliveries_step` leads with the enrollment), and its list rows through
the workspace's lists (their primary key leads with the list), so neither
needs an index of its own.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_enrollments_customer', 'enrollments', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_enrollments_customer', table_name='enrollments')
