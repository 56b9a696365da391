"""The tables of workspaces and their journeys: access tokens, journeys, their versions
and labels, the status event log, and a journey's counters (all of them, and node by
node). Rows are plain records; the rules live in `domain/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table
from sqlmodel import Field, SQLModel

from domain.counters import COUNTERS
from store.columns import UTCDateTime, table_of


class WorkspaceRow(SQLModel, table=True):
    __tablename__ = "workspaces"

    id: str = Field(primary_key=True, max_length=64)
    # The last status-event sequence handed out. Bumping it locks the row
    # until commit, which is what puts sequences in commit order.
    last_sequence: int = 0
    # The highest sequence retention has deleted from this workspace's log
    # (0: nothing deleted). Events up to it are gone; those after it are all kept.
    pruned_through: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(sa_type=UTCDateTime)


class TokenRow(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True, max_length=36)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=64)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Refused from this instant on; None: never expires.
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JourneyRow(SQLModel, table=True):
    __tablename__ = "journeys"
    __table_args__ = (
        Index("ix_journeys_workspace_pk", "workspace_id", "pk"),
        Index("ix_journeys_status_start_at", "status", "start_at"),
        Index("ix_journeys_status_end_at", "status", "end_at"),
    )

    # `pk` orders pages (newest first); `id` is what clients see.
    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True, max_length=36)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=64)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    status: str = Field(max_length=16)
    revision: int
    live_version: int | None = None
    latest_version: int
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    trigger_event: str | None = Field(default=None, max_length=200)
    send_delay_seconds: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    status_before_error: str | None = Field(default=None, max_length=16)
    error_reason: str | None = Field(default=None, max_length=1000)
    audience_fully_entered: bool = False
    copied_from_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JourneyVersionRow(SQLModel, table=True):
    __tablename__ = "journey_versions"

    journey_id: str = Field(foreign_key="journeys.id", primary_key=True, max_length=36)
    number: int = Field(primary_key=True)
    # The flow (store.mapping.node_to_json, one object a node): the version's content.
    nodes: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    # The same flow as the step processor walks it, a straight line of steps (written
    # from `nodes` with every version); [] for a flow that is not one, which cannot
    # go live (domain.content.readiness_problems).
    steps: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    trigger_event: str | None = Field(default=None, max_length=200)
    # A segment journey's list (audience_lists.id), and how many customers it holds.
    audience_list: str | None = Field(default=None, foreign_key="audience_lists.id", max_length=36)
    audience_size: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    send_delay_seconds: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # A segment journey's audience by condition (domain.conditions, as JSON), instead
    # of a list: the profiles that match when the load reaches them.
    audience_condition: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # An event-triggered journey's filter on the trigger's properties: a list of
    # attribute conditions, all of which must hold.
    trigger_where: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    # The journey's goal: the event (with properties meeting `goal_where`, a list of
    # attribute conditions) that takes a customer out of it, converted.
    goal_event: str | None = Field(default=None, max_length=200)
    goal_where: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    # The events its WAIT_FOR_EVENT nodes wait for (null: none), written from `nodes`
    # with every version: what a tracked event may release is found without reading
    # every flow.
    wait_events: list[str] | None = Field(default=None, sa_column=Column(JSON))
    # Whether a customer may enter again once out (domain.flow.Reentry).
    reentry: str = Field(
        default="AFTER_EXIT", max_length=16, sa_column_kwargs={"server_default": "AFTER_EXIT"}
    )
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=100)


class JourneyLabelRow(SQLModel, table=True):
    __tablename__ = "journey_labels"

    journey_id: str = Field(foreign_key="journeys.id", primary_key=True, max_length=36)
    label: str = Field(primary_key=True, max_length=50, index=True)


class StatusEventRow(SQLModel, table=True):
    """The append-only status event log. Rows are inserted, never updated; retention
    (service/retention.py) deletes the oldest ones, always a prefix of a workspace's log."""

    __tablename__ = "status_events"
    __table_args__ = (Index("ix_status_events_journey", "journey_id", "sequence"),)

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    sequence: int = Field(primary_key=True)
    journey_id: str = Field(max_length=36)
    previous_status: str = Field(max_length=16)
    status: str = Field(max_length=16)
    action: str = Field(max_length=16)
    actor_kind: str = Field(max_length=8)
    actor_name: str = Field(max_length=100)
    reason: str | None = Field(default=None, max_length=1000)
    version: int | None = None
    at: datetime = Field(sa_type=UTCDateTime)


class NodeCounterRow(SQLModel, table=True):
    """A journey's customers node by node, kept in the transactions that move them (one
    upsert per batch): `Journey.nodes` reads a journey's rows, never a scan.

    The row of a node (`branch` '') counts the customers `at` it now and those who ever
    `reached` it; a row per branch of a node (a CONDITION's yes/no, a WAIT_FOR_EVENT's
    event/timeout, a SPLIT's branch keys) counts in `reached` those who took it. Keyed
    by node key, not version: REACTIVATE moves customers by key, and so their counts."""

    __tablename__ = "node_counters"

    journey_id: str = Field(foreign_key="journeys.id", primary_key=True, max_length=36)
    node_key: str = Field(primary_key=True, max_length=40)
    branch: str = Field(default="", primary_key=True, max_length=40)
    at: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    reached: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


# A journey's counters (domain.counters, one column each), kept in the transactions that
# move customers and messages (one update per batch): `Journey.stats` reads one row,
# never a scan. Counters added after the table was made have a server default, which
# filled the rows already there when their migration added them.
_COUNTERS_ADDED_LATER = frozenset({"skipped", "converted", "node_arrivals"})
STATS = Table(
    "journey_stats",
    SQLModel.metadata,
    Column("journey_id", String(36), ForeignKey("journeys.id"), primary_key=True),
    *(
        Column(
            name,
            Integer,
            nullable=False,
            server_default="0" if name in _COUNTERS_ADDED_LATER else None,
        )
        for name in COUNTERS
    ),
    # Not a counter of messages: the journey's run of consecutive failed channel
    # attempts (a success ends it, and so does entering or leaving ERROR). At
    # JOURNEYS_CHANNEL_FAILURE_LIMIT the system takes FAIL.
    Column("failures_in_a_row", Integer, nullable=False, server_default="0"),
)

# The Core tables, which the store's statements are written against.
WORKSPACES = table_of(WorkspaceRow)
TOKENS = table_of(TokenRow)
JOURNEYS = table_of(JourneyRow)
VERSIONS = table_of(JourneyVersionRow)
LABELS = table_of(JourneyLabelRow)
EVENTS = table_of(StatusEventRow)
NODE_COUNTERS = table_of(NodeCounterRow)
