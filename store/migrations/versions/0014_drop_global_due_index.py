"""drop the global due index

`ix_enrollments_due (due_at) WHERE state = 'INSIDE'` served the step processor's
first question, every journey's due customers at once. The processor asks journey
by journey (`ix_enrollments_journey_due`, migration 0005), so nothing reads it any
more, while every customer moved wrote it again. Worse, PostgreSQL combined it with
the primary key in the processor's UPDATE by id when a bulk enrolment had outdated
the statistics, scanning it whole: 160 ms a statement at 1,000,000 customers
(bench/flow.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-11 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INSIDE = sa.text("state = 'INSIDE'")


def upgrade() -> None:
    op.drop_index(
        "ix_enrollments_due",
        table_name="enrollments",
        sqlite_where=_INSIDE,
        postgresql_where=_INSIDE,
    )


def downgrade() -> None:
    op.create_index(
        "ix_enrollments_due",
        "enrollments",
        ["due_at"],
        unique=False,
        sqlite_where=_INSIDE,
        postgresql_where=_INSIDE,
    )
