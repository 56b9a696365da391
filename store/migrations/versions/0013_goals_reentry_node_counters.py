"""goals, re-entry and node counters

- `journey_versions.goal_event`, `goal_where`: the event (and the attribute conditions
  on its properties) that takes a customer out of the journey, converted;
  `journey_versions.wait_events`: the events its WAIT_FOR_EVENT nodes wait for (null:
  none), written from its nodes;
  `journey_versions.reentry`: NEVER or AFTER_EXIT (the default, as before).
- `enrollments.exit_reason`: why a walk ended by something else than its nodes
  (NODE_REMOVED: a REACTIVATE took the node away); null for what came before.
- `journey_stats.converted`: customers a goal took out; `journey_stats.node_arrivals`:
  times a customer reached a node (what a watcher of the counters sees move).
- `node_counters`: each node's customers `at` it now and `reached` ever, and each
  branch's customers (docs/rules.md, "The flow").

Existing rows: a node's `at` is the customers inside at it. Its `reached` is the
customers who are at it or whose walk ended there; on a straight line of steps
(keys "1", "2", ..., every flow before branches) those at or past it, since each
of them walked it. Branch counts start at 0: which branch a customer took was
not kept before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 10:00:00
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

enrollments = sa.table(
    "enrollments",
    sa.column("journey_id", sa.String),
    sa.column("node_key", sa.String),
    sa.column("state", sa.String),
)
versions = sa.table(
    "journey_versions",
    sa.column("journey_id", sa.String),
    sa.column("number", sa.Integer),
    sa.column("nodes", sa.JSON),
    sa.column("wait_events", sa.JSON),
)
node_counters = sa.table(
    "node_counters",
    sa.column("journey_id", sa.String),
    sa.column("node_key", sa.String),
    sa.column("branch", sa.String),
    sa.column("at", sa.BigInteger),
    sa.column("reached", sa.BigInteger),
)


def _counted() -> list[dict[str, object]]:
    """Each node's row: customers at it now, and who reached it."""
    inside = sa.func.sum(sa.case((enrollments.c.state == "INSIDE", 1), else_=0))
    rows = op.get_bind().execute(
        sa.select(enrollments.c.journey_id, enrollments.c.node_key, inside, sa.func.count())
        .where(enrollments.c.node_key.is_not(None))
        .group_by(enrollments.c.journey_id, enrollments.c.node_key)
    )
    by_journey: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for journey_id, key, at, ended_or_at in rows:
        by_journey[journey_id][key] = (int(at or 0), int(ended_or_at))
    counted = []
    for journey_id, keys in by_journey.items():
        line = all(key.isdigit() for key in keys)
        for key, (at, here) in keys.items():
            reached = (
                sum(n for other, (_, n) in keys.items() if int(other) >= int(key)) if line else here
            )
            counted.append(
                {"journey_id": journey_id, "node_key": key, "branch": "", "at": at,
                 "reached": reached}
            )  # fmt: skip
    return counted


def _write_wait_events() -> None:
    connection = op.get_bind()
    found = connection.execute(
        sa.select(versions.c.journey_id, versions.c.number, versions.c.nodes)
    )
    for journey_id, number, nodes in found.all():
        events = sorted(
            {
                node["event"]
                for node in nodes
                if node["type"] == "WAIT_FOR_EVENT" and node.get("event")
            }
        )
        if events:
            connection.execute(
                versions.update()
                .where(versions.c.journey_id == journey_id, versions.c.number == number)
                .values(wait_events=events)
            )


def upgrade() -> None:
    with op.batch_alter_table("journey_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("goal_event", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("goal_where", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("wait_events", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "reentry",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="AFTER_EXIT",
                nullable=False,
            )
        )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("exit_reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
    with op.batch_alter_table("journey_stats", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("converted", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("node_arrivals", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "node_counters",
        sa.Column("journey_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("node_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("branch", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("at", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reached", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"]),
        sa.PrimaryKeyConstraint("journey_id", "node_key", "branch"),
    )
    _write_wait_events()
    counted = _counted()
    if counted:
        op.get_bind().execute(node_counters.insert(), counted)


def downgrade() -> None:
    op.drop_table("node_counters")
    with op.batch_alter_table("journey_stats", schema=None) as batch_op:
        batch_op.drop_column("node_arrivals")
        batch_op.drop_column("converted")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_column("exit_reason")
    with op.batch_alter_table("journey_versions", schema=None) as batch_op:
        batch_op.drop_column("reentry")
        batch_op.drop_column("wait_events")
        batch_op.drop_column("goal_where")
        batch_op.drop_column("goal_event")
