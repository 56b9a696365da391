"""messages: the email channel, sending rules, skipped messages

- `email_senders`: a workspace's SMTP server (the `email` channel).
- `sending_rules`: a workspace's quiet hours, frequency cap and time zone.
- `deliveries.handed_over_at`: when a message was first handed to its channel, what
  a frequency cap counts (`ix_deliveries_customer_sent`); filled for the messages
  already handed over from when their row last changed, the nearest record kept.
- `enrollments.event_properties`: the properties of the event that admitted the
  customer (a message's `event`); null for what came before.
- `journey_stats.skipped`: messages a sending rule did not send.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

import store.columns

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SENT = sa.text("handed_over_at IS NOT NULL")
_OBJECT = sa.JSON().with_variant(JSONB(), "postgresql")
_WORKSPACE = sqlmodel.sql.sqltypes.AutoString(length=64)


def _configured() -> list[sa.Column[object]]:
    return [
        sa.Column("configured_at", store.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("configured_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "email_senders",
        sa.Column("workspace_id", _WORKSPACE, nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("password", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("from_address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        *_configured(),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("workspace_id"),
    )
    op.create_table(
        "sending_rules",
        sa.Column("workspace_id", _WORKSPACE, nullable=False),
        sa.Column("quiet_start", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("quiet_end", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("cap_messages", sa.Integer(), nullable=True),
        sa.Column("cap_hours", sa.Integer(), nullable=True),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        *_configured(),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("workspace_id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handed_over_at", store.columns.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE deliveries SET handed_over_at = updated_at "
        "WHERE state IN ('HANDED_OVER', 'DELIVERED', 'FAILED')"
    )
    op.create_index(
        "ix_deliveries_customer_sent",
        "deliveries",
        ["customer_id", "handed_over_at"],
        unique=False,
        sqlite_where=_SENT,
        postgresql_where=_SENT,
    )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_properties", _OBJECT, nullable=True))
    with op.batch_alter_table("journey_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skipped", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("journey_stats", schema=None) as batch_op:
        batch_op.drop_column("skipped")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_column("event_properties")
    op.drop_index(
        "ix_deliveries_customer_sent",
        table_name="deliveries",
        sqlite_where=_SENT,
        postgresql_where=_SENT,
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("handed_over_at")
    op.drop_table("sending_rules")
    op.drop_table("email_senders")
