"""journey version nodes

`journey_versions.nodes`: a version's flow, a list of nodes (docs/rules.md, "The flow"),
now the content a version holds. Every existing version's steps become the
straight line of nodes they are: step n is the node of key "n", its `next`
the following step's key, the last one's none (`domain.flow.flow_from_steps`;
written out here, as a migration must not change with the code). An
incomplete step of a draft stays incomplete. `steps` stays, written from the
nodes with every version, for the step processor. The downgrade drops
`nodes`: a version whose flow was not a straight line keeps no steps.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Versions converted per statement: memory stays bounded however many there are.
BATCH = 1000

versions = sa.table(
    'journey_versions',
    sa.column('journey_id', sa.String),
    sa.column('number', sa.Integer),
    sa.column('steps', sa.JSON),
    sa.column('nodes', sa.JSON),
)


def nodes_of(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The straight line of `steps` as nodes: keys "1", "2", ..., each leading to the next."""
    nodes = []
    for index, step in enumerate(steps):
        node: dict[str, Any] = {'key': str(index + 1), 'type': step['type']}
        if index + 1 < len(steps):
            node['next'] = str(index + 2)
        for name in ('seconds', 'channel', 'template'):
            if step.get(name) is not None:
                node[name] = step[name]
        nodes.append(node)
    return nodes


def upgrade() -> None:
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nodes', sa.JSON(), nullable=True))
    connection = op.get_bind()
    write = (
        versions.update()
        .where(versions.c.journey_id == sa.bindparam('version_of'))
        .where(versions.c.number == sa.bindparam('version_number'))
        .values(nodes=sa.bindparam('converted', type_=sa.JSON))
    )
    after: tuple[str, int] = ('', 0)
    while True:
        batch = connection.execute(
            sa.select(versions.c.journey_id, versions.c.number, versions.c.steps)
            .where(sa.tuple_(versions.c.journey_id, versions.c.number) > sa.tuple_(*after))
            .order_by(versions.c.journey_id, versions.c.number)
            .limit(BATCH)
        ).all()
        if not batch:
            break
        connection.execute(
            write,
            [
                {'version_of': row.journey_id, 'version_number': row.number,
                 'converted': nodes_of(row.steps)}
                for row in batch
            ],
        )
        after = (batch[-1].journey_id, batch[-1].number)
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.alter_column('nodes', existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.drop_column('nodes')
