"""The tables. Rows are plain records; the rules live in `domain/`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Table, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.columns import UTCDateTime

# A JSON object the database can look into: `jsonb` on PostgreSQL (conditions read
# its keys with `->` and `->>`), JSON text on SQLite (read with `json_extract`).
JSONObject = JSON().with_variant(JSONB(), "postgresql")


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

    # Not a foreign key: checking one costs a look-up per row, which was four fifths
    # of a million-id upload's time. Only store.audience_lists writes these rows, for a
    # list it has just created, and removes them before their list.
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
        # share of every busy journey's (store.enrollments.due_enrollments).
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


class DeliveryRow(SQLModel, table=True):
    """A message a SEND node queued for a customer. One per enrollment (an entry into
    the journey) and node: a node applied twice never sends twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ux_deliveries_node", "enrollment_id", "node_key", unique=True),
        # The dispatcher's question: which queued deliveries may go out now?
        Index(
            "ix_deliveries_queued",
            "not_before",
            sqlite_where=text("state = 'QUEUED'"),
            postgresql_where=text("state = 'QUEUED'"),
        ),
        Index("ix_deliveries_journey_state", "journey_id", "state"),
        # The frequency cap's question: how many messages went to these customers
        # since a time, whatever their journey (docs/rules.md, "Messages").
        Index(
            "ix_deliveries_customer_sent",
            "customer_id",
            "handed_over_at",
            sqlite_where=text("handed_over_at IS NOT NULL"),
            postgresql_where=text("handed_over_at IS NOT NULL"),
        ),
        # The dispatcher's other question: which handed-over deliveries are due for
        # another attempt (a retry, or an attempt whose outcome was never recorded)?
        Index(
            "ix_deliveries_handed_over",
            "not_before",
            sqlite_where=text("state = 'HANDED_OVER'"),
            postgresql_where=text("state = 'HANDED_OVER'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The message's id as its channel shows it (the webhook's deliveryId). Not the row
    # id, which counts every workspace's messages: random, made by the INSERT that
    # writes the delivery (store.columns.random_id), the same on every attempt. No
    # unique index: 122 random bits or more collide with a chance of about 2^-63 in a
    # billion rows, and inserting random keys into one would add a fifth to the cost
    # of writing a delivery on PostgreSQL and triple it on SQLite (a row of a batch of
    # 1,000: 6.4 -> 7.7 us, 2.2 -> 6.8 us).
    public_id: uuid.UUID = Field(sa_type=Uuid)
    journey_id: str = Field(foreign_key="journeys.id", max_length=36)
    enrollment_id: int = Field(foreign_key="enrollments.id")
    customer_id: str = Field(max_length=200)
    node_key: str = Field(max_length=40)  # the SEND node that queued it
    channel: str = Field(max_length=16)
    template: str = Field(max_length=200)
    state: str = Field(max_length=16)
    # QUEUED: not handed over before this (the recall window). HANDED_OVER: when
    # the next attempt is due (a retry), or when the attempt under way is taken
    # for lost if its outcome has not been recorded by then.
    not_before: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    # The last attempt's error; for a SKIPPED message, why it was not sent.
    last_error: str | None = Field(default=None, max_length=500)
    # When it was first handed to its channel (what a frequency cap counts); null
    # while QUEUED, and for a message cancelled or skipped before.
    handed_over_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class JourneyStatsRow(SQLModel, table=True):
    """Counters kept in the transactions that move customers and messages (one
    update per batch): `Journey.stats` reads one row, never a scan."""

    __tablename__ = "journey_stats"

    journey_id: str = Field(foreign_key="journeys.id", primary_key=True, max_length=36)
    entered: int = 0
    inside: int = 0
    completed: int = 0
    exited: int = 0
    queued: int = 0
    handed_over: int = 0
    delivered: int = 0
    failed: int = 0
    cancelled: int = 0
    # Messages not sent by a rule: no valid address, a frequency cap.
    skipped: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Customers its goal event took out (CONVERTED).
    converted: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Times a customer reached a node, all nodes together: it grows whenever the node
    # counters move, so a watcher of the counters sees the flow's counts move too.
    node_arrivals: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Not a counter of messages: the journey's run of consecutive failed channel
    # attempts (a success ends it, and so does entering or leaving ERROR). At
    # JOURNEYS_CHANNEL_FAILURE_LIMIT the system takes FAIL.
    failures_in_a_row: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


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


class WebhookEndpointRow(SQLModel, table=True):
    """A workspace's webhook endpoint: where the `webhook` channel POSTs, and the
    secret it signs with (kept as given: signing needs it; never shown back)."""

    __tablename__ = "webhook_endpoints"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    configured_at: datetime = Field(sa_type=UTCDateTime)
    configured_by: str = Field(max_length=100)


class EmailSenderRow(SQLModel, table=True):
    """A workspace's SMTP server: where the `email` channel sends from (the password
    kept as given, since logging in needs it; never shown back)."""

    __tablename__ = "email_senders"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    host: str = Field(max_length=253)
    port: int
    security: str = Field(max_length=16)  # NONE, STARTTLS or TLS
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=500)
    from_address: str = Field(max_length=320)
    configured_at: datetime = Field(sa_type=UTCDateTime)
    configured_by: str = Field(max_length=100)


class SendingRulesRow(SQLModel, table=True):
    """A workspace's sending rules (docs/rules.md, "Messages"): quiet hours as local
    wall-clock times, a frequency cap per customer, and the time zone of customers
    without a valid `timezone` attribute. A null part is not set."""

    __tablename__ = "sending_rules"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    quiet_start: str | None = Field(default=None, max_length=5)  # "21:00"
    quiet_end: str | None = Field(default=None, max_length=5)
    cap_messages: int | None = None
    cap_hours: int | None = None
    timezone: str | None = Field(default=None, max_length=64)
    configured_at: datetime = Field(sa_type=UTCDateTime)
    configured_by: str = Field(max_length=100)


def table_of(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


# The Core tables, which the store's statements are written against.
WORKSPACES = table_of(WorkspaceRow)
TOKENS = table_of(TokenRow)
JOURNEYS = table_of(JourneyRow)
VERSIONS = table_of(JourneyVersionRow)
LABELS = table_of(JourneyLabelRow)
EVENTS = table_of(StatusEventRow)
ENROLLMENTS = table_of(EnrollmentRow)
DELIVERIES = table_of(DeliveryRow)
STATS = table_of(JourneyStatsRow)
NODE_COUNTERS = table_of(NodeCounterRow)
WEBHOOK_ENDPOINTS = table_of(WebhookEndpointRow)
EMAIL_SENDERS = table_of(EmailSenderRow)
SENDING_RULES = table_of(SendingRulesRow)
AUDIENCE_LISTS = table_of(AudienceListRow)
AUDIENCE_MEMBERS = table_of(AudienceMemberRow)
AUDIENCE_LOADS = table_of(AudienceLoadRow)
CUSTOMERS = table_of(CustomerRow)
CUSTOMER_EVENTS = table_of(CustomerEventRow)
CUSTOMER_IMPORTS = table_of(CustomerImportRow)
