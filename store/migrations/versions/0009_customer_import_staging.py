"""customer import staging

`customer_imports`: the lines of a customer import (`POST /customers`) while it
streams in, each with the import's id and its line number, merged into
`customers` once the whole import is read, then removed. UNLOGGED on
PostgreSQL: it holds nothing that must survive a crash (an import under way
is lost with its connection anyway), and its batches write no WAL. The
downgrade drops it (imports under way fail).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.create_table('customer_imports',
    sa.Column('import_id', sa.BigInteger(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('attributes', sa.JSON().with_variant(JSONB(), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('import_id', 'line'),
    prefixes=['UNLOGGED'] if postgresql else [],
    )


def downgrade() -> None:
    op.drop_table('customer_imports')
