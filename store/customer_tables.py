"""The tables of customers: their profiles and events, an import under way, audience
lists and their loading, and customers inside journeys (enrollments). Rows are plain
records; the rules live in `domain/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, text
from sqlmodel import Field, SQLModel

from store.columns import JSONObject, UTCDateTime, table_of


class CustomerRow(SQLModel, table=True):
    """A customer's profile: its id within a workspace and its attributes
    (domain.customers). Created by an upsert, an import, a tracked event or an
    enrollment; removed only by an erasure."""

    __tablename__ = "customers"

    workspace_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=200)
    attributes: dict[str, Any] = Field(sa_column=Column(JSONObject, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class CustomerEventRow(SQLModel, table=True):
    """Something a customer did, kept append-only for event conditions until
    retention (JOURNEYS_EVENT_RETENTION_DAYS) removes it."""

    __tablename__ = "customer_events"
    __table_args__ = (
        # An event condition's question: this customer's events of this name, since.
        Index("ix_customer_events_customer", "workspace_id", "customer_id", "name", "at"),
        # Retention's question: the oldest events, whoever's.
        Index("ix_customer_events_at", "at"),
    )

    id: int | None = Field(
        default=None,
        # SQLite numbers rows itself only for an INTEGER PRIMARY KEY.
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    workspace_id: str = Field(max_length=64)
    customer_id: str = Field(max_length=200)
    name: str = Field(max_length=200)
    properties: dict[str, Any] = Field(sa_column=Column(JSONObject, nullable=False))
    # When it happened (given by the caller, or the time it was tracked).
    at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class CustomerImportRow(SQLModel, table=True):
    """A line of a customer import (`POST /customers`) while it streams in: the
    profile's id and the change to its attributes (null removes one), staged until
    the whole import is read and merged into `customers` in one statement, then
    removed. `import_id` is the import's start time in seconds, shifted left 31 bits,
    plus 31 random bits: rows of an import whose process stopped are found by it,
    and swept. UNLOGGED on PostgreSQL (no WAL): a crash only loses imports under way."""

    __tablename__ = "customer_imports"

    import_id: int = Field(sa_column=Column(BigInteger(), primary_key=True))
    line: int = Field(primary_key=True)
    customer_id: str = Field(max_length=200)
    attributes: dict[str, Any] = Field(sa_column=Column(JSONObject, nullable=False))


class AudienceListRow(SQLModel, table=True):
    """A list of customers, written once (an upload, or a mutation's inline ids)
    and never changed after: versions of segment journeys, and their copies,
    refer to it by `id`. Its customers are `audience_members` rows."""

    __tablename__ = "audience_lists"

    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True, max_length=36)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=64)
    size: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    # None while an upload is still being written: such a list is referred to by
    # nothing yet, and one left so by a cut-off upload is deleted (store.audience_lists).
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AudienceMemberRow(SQLModel, table=True):
    """A customer on a list, at its position: the line of the upload it came from
    (or its place in an inline list). Loading walks a list in position order."""

    __tablename__ = "audience_members"

    # Not a foreign key: PostgreSQL would check it row by row as an upload's COPY writes
    # the rows, the larger part of an upload's time (bench/customers.py, its list
    # phase). Nothing needs the check: only store.audience_lists writes these rows, for
    # a list it has just created, and removes them before their list.
    list_pk: int = Field(primary_key=True)
    position: int = Field(primary_key=True)
    customer_id: str = Field(max_length=200)


class AudienceLoadRow(SQLModel, table=True):
    """A segment journey's list loading into it, and the cursor that makes the load
    resumable: every member up to `loaded_through` has been offered entry."""

    __tablename__ = "audience_loads"

    journey_id: str = Field(foreign_key="journeys.id", primary_key=True, max_length=36)
    # The list being loaded; None for an audience by condition, whose cursor is
    # `loaded_after`: every profile with an id up to it has been offered entry.
    list_pk: int | None = Field(default=None, foreign_key="audience_lists.pk")
    loaded_through: int = 0
    loaded_after: str | None = Field(default=None, max_length=200)
    started_at: datetime = Field(sa_type=UTCDateTime)
    # Set when the whole list has been offered entry.
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EnrollmentRow(SQLModel, table=True):
    """A customer in a journey: the node it is at, when it reached it, and when that
    node is due for it.

    It walks the journey's live version's flow by node key (domain/flow_walk.py,
    service/processing.py). A customer is inside a journey at most once at a time:
    unique while INSIDE."""

    __tablename__ = "enrollments"
    __table_args__ = (
        Index(
            "ux_enrollments_inside",
            "journey_id",
            "customer_id",
            unique=True,
            sqlite_where=text("state = 'INSIDE'"),
            postgresql_where=text("state = 'INSIDE'"),
        ),
        # Where a journey's customers are (Journey.steps) and settling an ABORT.
        Index("ix_enrollments_journey_step", "journey_id", "state", "step_index"),
        # A journey's due customers in the order they fell due: each batch takes a
        # share of every busy journey's (store.moving.due_enrollments).
        Index(
            "ix_enrollments_journey_due",
            "journey_id",
            "due_at",
            sqlite_where=text("state = 'INSIDE'"),
            postgresql_where=text("state = 'INSIDE'"),
        ),
        # A customer's journeys (its look-up, its erasure); its deliveries are found
        # through these enrollments.
        Index("ix_enrollments_customer", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    journey_id: str = Field(foreign_key="journeys.id", max_length=36)
    customer_id: str = Field(max_length=200)
    # The node it is at; null while it has just entered and the entry node has not
    # been applied to it yet (it is due at once). Once its walk ended, the node where
    # it ended.
    node_key: str | None = Field(default=None, max_length=40)
    # When it reached that node (a WAIT counts its seconds from then).
    reached_at: datetime = Field(sa_type=UTCDateTime)
    # Where it is on the straight line of steps that Journey.steps shows: the steps it
    # has begun (a WAIT under way counts), the length of the line once it completed
    # (domain.walking.line_position).
    step_index: int = 0
    state: str = Field(max_length=16)
    # Why a walk that did not end at a node's own outcome ended (EXITED): NODE_REMOVED
    # when a REACTIVATE took its node away; null for an ABORT.
    exit_reason: str | None = Field(default=None, max_length=16)
    # The properties of the event that admitted it (a message's `event` variable);
    # null for a customer a segment's load admitted.
    event_properties: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONObject, nullable=True)
    )
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    entered_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


# The Core tables, which the store's statements are written against.
CUSTOMERS = table_of(CustomerRow)
CUSTOMER_EVENTS = table_of(CustomerEventRow)
CUSTOMER_IMPORTS = table_of(CustomerImportRow)
AUDIENCE_LISTS = table_of(AudienceListRow)
AUDIENCE_MEMBERS = table_of(AudienceMemberRow)
AUDIENCE_LOADS = table_of(AudienceLoadRow)
ENROLLMENTS = table_of(EnrollmentRow)
