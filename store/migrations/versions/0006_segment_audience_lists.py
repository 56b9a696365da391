"""segment audience lists

A segment journey's customers become rows: `audience_lists` (written once,
never changed), `audience_members` (a customer at a position: the upload's
line), and `audience_loads` (a journey's list loading into it, with its
cursor). A version refers to a list (`audience_list`, `audience_size`)
instead of carrying the ids in its `audience` JSON; the upgrade moves every
version's inline ids into a list of their own, and the downgrade puts them
back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:38:05
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.columns

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VERSION_LIST_KEY = 'fk_journey_versions_audience_list'


def upgrade() -> None:
    op.create_table('audience_lists',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', store.columns.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    op.create_table('audience_loads',
    sa.Column('journey_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('list_pk', sa.Integer(), nullable=False),
    sa.Column('loaded_through', sa.Integer(), nullable=False),
    sa.Column('started_at', store.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', store.columns.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['journey_id'], ['journeys.id'], ),
    sa.ForeignKeyConstraint(['list_pk'], ['audience_lists.pk'], ),
    sa.PrimaryKeyConstraint('journey_id')
    )
    op.create_table('audience_members',
    sa.Column('list_pk', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('list_pk', 'position')
    )
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience_list', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column('audience_size', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_foreign_key(_VERSION_LIST_KEY, 'audience_lists', ['audience_list'], ['id'])
    _move_inline_audiences_into_lists()
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.drop_column('audience')


def downgrade() -> None:
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.JSON(), server_default='[]', nullable=False))
    _put_lists_back_inline()
    with op.batch_alter_table('journey_versions', schema=None) as batch_op:
        batch_op.alter_column('audience', server_default=None)
        batch_op.drop_constraint(_VERSION_LIST_KEY, type_='foreignkey')
        batch_op.drop_column('audience_size')
        batch_op.drop_column('audience_list')
    op.drop_table('audience_members')
    op.drop_table('audience_loads')
    op.drop_table('audience_lists')


def _move_inline_audiences_into_lists() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    versions = bind.execute(sa.text(
        "SELECT v.journey_id, v.number, v.audience, j.workspace_id FROM journey_versions v "
        "JOIN journeys j ON j.id = v.journey_id"
    )).all()
    for journey_id, number, audience, workspace_id in versions:
        ids = list(dict.fromkeys(json.loads(audience) if isinstance(audience, str) else audience))
        if not ids:
            continue
        list_id = str(uuid.uuid4())
        bind.execute(
            sa.text(
                "INSERT INTO audience_lists (id, workspace_id, size, created_at, completed_at) "
                "VALUES (:id, :workspace, :size, :now, :now)"
            ),
            {"id": list_id, "workspace": workspace_id, "size": len(ids), "now": now},
        )
        list_pk = bind.execute(
            sa.text("SELECT pk FROM audience_lists WHERE id = :id"), {"id": list_id}
        ).scalar_one()
        bind.execute(
            sa.text(
                "INSERT INTO audience_members (list_pk, position, customer_id) "
                "VALUES (:list_pk, :position, :customer)"
            ),
            [
                {"list_pk": list_pk, "position": position, "customer": customer}
                for position, customer in enumerate(ids, start=1)
            ],
        )
        bind.execute(
            sa.text(
                "UPDATE journey_versions SET audience_list = :list, audience_size = :size "
                "WHERE journey_id = :journey AND number = :number"
            ),
            {"list": list_id, "size": len(ids), "journey": journey_id, "number": number},
        )


def _put_lists_back_inline() -> None:
    bind = op.get_bind()
    versions = bind.execute(sa.text(
        "SELECT v.journey_id, v.number, l.pk FROM journey_versions v "
        "JOIN audience_lists l ON l.id = v.audience_list"
    )).all()
    for journey_id, number, list_pk in versions:
        ids = bind.execute(
            sa.text(
                "SELECT customer_id FROM audience_members WHERE list_pk = :list ORDER BY position"
            ),
            {"list": list_pk},
        ).scalars().all()
        bind.execute(
            sa.text(
                "UPDATE journey_versions SET audience = :ids "
                "WHERE journey_id = :journey AND number = :number"
            ),
            {"ids": json.dumps(list(ids)), "journey": journey_id, "number": number},
        )
