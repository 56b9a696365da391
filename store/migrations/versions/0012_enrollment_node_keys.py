"""enrollment node keys

The step processor walks a journey's flow by node key (docs/rules.md, "The flow").
`enrollments.node_key`: the node a customer is at (null: just entered, the entry
node not applied yet); `enrollments.reached_at`: when they reached it.
`deliveries.node_key`: the SEND node that queued the message, and the rule of one
message per customer, node and entry is now the unique key
`ux_deliveries_node (enrollment_id, node_key)` (`deliveries.step_index` goes).
`enrollments.step_index` stays: where a customer stands on the line of steps that
`Journey.steps` counts (domain.walking.line_position), which it already says.

Existing rows (every version is a straight line: keys "1", "2", ..., migration
0011): a customer at step index i is at node str(i + 1) (one who completed, at
the last step they walked: str(i)), reached at its old `due_at` (or, out of the
journey, its `updated_at`); a delivery of step i was queued by node str(i + 1).

Why the timing is unchanged: the old processor applied step i at `due_at` (a
SEND queued its message and the next step was due at once; a WAIT of s made the
next step due s later). The new one applies the node a customer is at once it is
due there, and a customer is due at a node `domain.flow_walk.due_at(node,
reached_at)`: at once for a SEND, `seconds` later for a WAIT. So "at node i + 1,
reached at the old due_at" is due at the old due_at for a SEND (its message goes
then, as before) and at old due_at + s for a WAIT, which is exactly when the old
walk made step i + 1 due: this migration adds s to the `due_at` of customers
inside at a WAIT, read from their journey's live version. A customer waiting
after a WAIT (index i + 1, due when the wait ends) is at node i + 2 reached when
the wait ends, due then. A customer whose index is past the end of a shorter
version (after REACTIVATE) is at a key the flow lacks: their walk ends when next
applied, as it did.

The downgrade goes back for straight lines (the only flows the old processor
ran): a delivery's step is its key - 1; a customer inside at a WAIT they have
not begun is due when they reached it again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 10:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.columns

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

enrollments = sa.table(
    "enrollments",
    sa.column("journey_id", sa.String),
    sa.column("step_index", sa.Integer),
    sa.column("state", sa.String),
    sa.column("node_key", sa.String),
    sa.column("due_at", sa.DateTime),
    sa.column("reached_at", sa.DateTime),
    sa.column("updated_at", sa.DateTime),
)
deliveries = sa.table(
    "deliveries",
    sa.column("step_index", sa.Integer),
    sa.column("node_key", sa.String),
)
journeys = sa.table("journeys", sa.column("id", sa.String), sa.column("live_version", sa.Integer))
versions = sa.table(
    "journey_versions",
    sa.column("journey_id", sa.String),
    sa.column("number", sa.Integer),
    sa.column("steps", sa.JSON),
)


def _key(index: Any) -> Any:
    return sa.cast(index, sa.String)


def _waits_inside() -> list[tuple[str, int, int]]:
    """(journey id, step index, seconds) of every step index customers are inside at
    whose step, in their journey's live version, is a WAIT."""
    inside = (
        sa.select(enrollments.c.journey_id, enrollments.c.step_index)
        .distinct()
        .where(enrollments.c.state == "INSIDE")
        .subquery()
    )
    rows = (
        op.get_bind()
        .execute(
            sa.select(inside.c.journey_id, inside.c.step_index, versions.c.steps)
            .join(journeys, journeys.c.id == inside.c.journey_id)
            .join(
                versions,
                (versions.c.journey_id == journeys.c.id)
                & (versions.c.number == journeys.c.live_version),
            )
        )
        .all()
    )
    waits = []
    for journey_id, index, steps in rows:
        if index < len(steps) and steps[index]["type"] == "WAIT":
            waits.append((journey_id, index, int(steps[index].get("seconds") or 0)))
    return waits


def _later(seconds: int) -> str:
    """SQL for `due_at` moved `seconds` later, keeping its fraction of a second."""
    if op.get_bind().dialect.name == "postgresql":
        return f"due_at + make_interval(secs => {seconds})"
    # SQLite keeps the text SQLAlchemy wrote: "YYYY-MM-DD HH:MM:SS" then the fraction.
    return f"strftime('%Y-%m-%d %H:%M:%S', due_at, '+{seconds} seconds') || substr(due_at, 20)"


def upgrade() -> None:
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("node_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reached_at", store.columns.UTCDateTime(timezone=True), nullable=True)
        )
    connection = op.get_bind()
    connection.execute(
        enrollments.update()
        .where(enrollments.c.state != "COMPLETED")
        .values(
            node_key=_key(enrollments.c.step_index + 1),
            reached_at=sa.func.coalesce(enrollments.c.due_at, enrollments.c.updated_at),
        )
    )
    connection.execute(
        enrollments.update()
        .where(enrollments.c.state == "COMPLETED")
        .values(node_key=_key(enrollments.c.step_index), reached_at=enrollments.c.updated_at)
    )
    for journey_id, index, seconds in _waits_inside():
        connection.execute(
            sa.text(
                f"UPDATE enrollments SET due_at = {_later(seconds)} "
                "WHERE journey_id = :journey AND step_index = :index AND state = 'INSIDE'"
            ),
            {"journey": journey_id, "index": index},
        )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.alter_column(
            "reached_at", existing_type=store.columns.UTCDateTime(timezone=True), nullable=False
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("node_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
    connection.execute(deliveries.update().values(node_key=_key(deliveries.c.step_index + 1)))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "node_key", existing_type=sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False
        )
        batch_op.drop_index("ux_deliveries_step")
        batch_op.create_index("ux_deliveries_node", ["enrollment_id", "node_key"], unique=True)
        batch_op.drop_column("step_index")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step_index", sa.Integer(), nullable=True))
    connection = op.get_bind()
    connection.execute(
        deliveries.update().values(step_index=sa.cast(deliveries.c.node_key, sa.Integer) - 1)
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("step_index", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index("ux_deliveries_node")
        batch_op.create_index("ux_deliveries_step", ["enrollment_id", "step_index"], unique=True)
        batch_op.drop_column("node_key")

    # A customer at a WAIT they have not begun (their index is its place) is due when
    # they reached it, as the old processor applied a WAIT on arriving.
    for journey_id, index, _ in _waits_inside():
        connection.execute(
            enrollments.update()
            .where(
                enrollments.c.journey_id == journey_id,
                enrollments.c.step_index == index,
                enrollments.c.node_key == str(index + 1),
                enrollments.c.state == "INSIDE",
            )
            .values(due_at=enrollments.c.reached_at)
        )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_column("reached_at")
        batch_op.drop_column("node_key")
