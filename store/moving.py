"""Customers inside journeys falling due and moving on, as enrollment rows.

Set-based: the step processor locks a batch of due enrollments in one SELECT
(`due_enrollments`, a share of every busy journey's) and moves each (journey,
node) group with one UPDATE per outcome of the node (`move`), which picks its
customers in SQL: all of them, those whose profile meets a condition, those in
a SPLIT's buckets, those whose awaited event came. An event releases those
waiting for it in one UPDATE too (`release_waiting`). Entering: `store.enrollments`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    TextClause,
    bindparam,
    func,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import Update

from domain.condition_sql import compile_condition, compile_where
from domain.flow import Flow
from domain.flow_walk import EventCame, Everyone, InBuckets, Matching, Who
from domain.statuses import PROCESSING_STATUSES
from domain.walking import EnrollmentState
from store.columns import written
from store.compiled import Statement
from store.conditions import PROFILES, bound
from store.lists import one_of
from store.mapping import node_from_json
from store.split_sql import split_bucket
from store.tables import ENROLLMENTS, JOURNEYS, VERSIONS

_PROCESSING = [status.value for status in PROCESSING_STATUSES]


@dataclass(frozen=True)
class Place:
    """Where an outcome moves customers: the node `key`, due there at `due_at`, standing
    at `step_index` on the line of steps (domain.walking.line_position). A `due_at` of
    None ends their walk, leaving them at `key`."""

    key: str
    due_at: datetime | None
    step_index: int


# Journeys that process and have someone due, held FOR SHARE for the batch:
# an ABORT or PAUSE committed meanwhile waits for it, so counters never race.
_BUSY_JOURNEYS = Statement(
    select(
        JOURNEYS.c.id,
        JOURNEYS.c.workspace_id,
        JOURNEYS.c.live_version,
        JOURNEYS.c.send_delay_seconds,
    )
    .where(
        JOURNEYS.c.status.in_(_PROCESSING),
        select(ENROLLMENTS.c.id)
        .where(
            ENROLLMENTS.c.journey_id == JOURNEYS.c.id,
            ENROLLMENTS.c.state == written(EnrollmentState.INSIDE),
            ENROLLMENTS.c.due_at <= bindparam("now", type_=ENROLLMENTS.c.due_at.type),
        )
        .exists(),
    )
    .order_by(JOURNEYS.c.pk)
    .limit(bindparam("journeys"))
    .with_for_update(read=True)
)


def _due_of(journey_id: ColumnElement[Any]) -> Select[Any]:
    """A journey's due enrollments, oldest due first, up to `limit`, locked; rows another
    worker holds are skipped (index ix_enrollments_journey_due)."""
    return (
        select(
            ENROLLMENTS.c.id,
            ENROLLMENTS.c.journey_id,
            ENROLLMENTS.c.customer_id,
            ENROLLMENTS.c.node_key,
        )
        .where(
            ENROLLMENTS.c.journey_id == journey_id,
            ENROLLMENTS.c.state == written(EnrollmentState.INSIDE),
            ENROLLMENTS.c.due_at <= bindparam("now", type_=ENROLLMENTS.c.due_at.type),
        )
        .order_by(ENROLLMENTS.c.due_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


# SQLite: one journey's (one statement per journey: each answers in microseconds).
_DUE = Statement(_due_of(bindparam("journey_id")))

# PostgreSQL: every journey's share in one statement, each its own index range.
_WANTED = (
    func.unnest(bindparam("journey_ids", type_=ARRAY(String)))
    .table_valued("id")
    .render_derived(name="wanted")
)
_SHARE = _due_of(_WANTED.c.id).lateral("share")
_DUE_SHARES = Statement(
    select(_SHARE.c.id, _SHARE.c.journey_id, _SHARE.c.customer_id, _SHARE.c.node_key)
    .select_from(_WANTED)
    .join(_SHARE, true())
)

_FLOWS = Statement(
    select(VERSIONS.c.journey_id, VERSIONS.c.number, VERSIONS.c.nodes).where(
        one_of(VERSIONS.c.journey_id, "journey_ids")
    )
)

# Moving the customers of a (journey, node) group that one outcome takes. The group's
# ids are checked to be still INSIDE at the node applied (`at`; '' for those who
# just entered, at no node yet): a customer is moved by one outcome of a node at
# most, even if a profile changed between the outcomes' statements (read committed).
_NOT_AT_A_NODE = ""
_FALSE = {"postgresql": "FALSE", "sqlite": "0"}
# One parameter for the two times a moved customer gets (reached, updated): bound once,
# converted once.
_MOVED_AT = bindparam("now", type_=ENROLLMENTS.c.reached_at.type)
_MOVE_VALUES = {
    "node_key": bindparam("new_node_key", type_=ENROLLMENTS.c.node_key.type),
    "reached_at": _MOVED_AT,
    "due_at": bindparam("new_due_at", type_=ENROLLMENTS.c.due_at.type),
    "state": bindparam("new_state", type_=ENROLLMENTS.c.state.type),
    "step_index": bindparam("new_step_index", type_=ENROLLMENTS.c.step_index.type),
    "updated_at": _MOVED_AT,
}


def _moving(*who: ColumnElement[Any] | TextClause) -> Update:
    # The rows are found by id (the primary key). The state is compared through
    # COALESCE (it is never null) so that PostgreSQL cannot use a partial index on
    # state = 'INSIDE' instead: a planner whose statistics a bulk enrolment has just
    # outdated found that cheaper, and each batch scanned every customer inside
    # (bench/flow.py's line; tests/store/test_move_plans.py). Binding the state is not
    # enough: a custom plan sees the bound value.
    return (
        update(ENROLLMENTS)
        .where(
            one_of(ENROLLMENTS.c.id, "ids"),
            func.coalesce(ENROLLMENTS.c.state, "")
            == bindparam("inside", EnrollmentState.INSIDE.value),
            func.coalesce(ENROLLMENTS.c.node_key, _NOT_AT_A_NODE)
            == bindparam("at", type_=ENROLLMENTS.c.node_key.type),
            *who,
        )
        .values(_MOVE_VALUES)
        .returning(ENROLLMENTS.c.id)
    )


_MOVE_EVERYONE = Statement(_moving())
_BUCKET = split_bucket(
    ENROLLMENTS.c.journey_id,
    ENROLLMENTS.c.customer_id,
    bindparam("split_key", type_=ENROLLMENTS.c.node_key.type),
)
_MOVE_IN_BUCKETS = Statement(_moving(bindparam("low") <= _BUCKET, bindparam("high") > _BUCKET))


def busy_journeys(connection: Connection, now: datetime, limit: int) -> list[Any]:
    """(id, workspace_id, live_version, send_delay_seconds) of processing journeys with
    someone due."""
    return _BUSY_JOURNEYS.rows(connection, {"now": now, "journeys": limit})


def due_enrollments(
    connection: Connection, journey_ids: Sequence[str], now: datetime, limit: int
) -> list[Any]:
    """(id, journey_id, customer_id, node_key) of up to about `limit` due
    enrollments, locked; rows another worker holds are skipped.

    The batch is shared among the journeys: each gets an equal part, so a customer
    who just entered a small journey moves on at once even while a large one has a
    backlog of a million: on PostgreSQL one SELECT of every journey's share (a LATERAL
    subquery per journey, each on its own index range), on SQLite one per journey."""
    share = max(1, -(-limit // max(1, len(journey_ids))))
    if connection.dialect.name == "postgresql":
        values = {"journey_ids": list(journey_ids), "now": now, "limit": share}
        return _DUE_SHARES.rows(connection, values)
    found: list[Any] = []
    for journey_id in journey_ids:
        found += _DUE.rows(connection, {"journey_id": journey_id, "now": now, "limit": share})
    return found


def live_flows(connection: Connection, journeys: Sequence[Any]) -> dict[str, Flow]:
    """The flow of each journey's live version (`id`, `live_version`)."""
    live = {journey.id: journey.live_version for journey in journeys}
    found: dict[str, Flow] = {}
    for row in _FLOWS.rows(connection, {"journey_ids": list(live)}):
        if live[row.journey_id] == row.number:
            found[row.journey_id] = Flow(tuple(node_from_json(node) for node in row.nodes))
    return found


def move(
    connection: Connection,
    workspace_id: str,
    enrollment_ids: Sequence[int],
    at: str | None,
    applied: str,
    who: Who,
    to: Place,
    now: datetime,
) -> list[int]:
    """Move those of these enrollments of one journey, due at the node `at` (None: just
    entered), to whom the node `applied` (`at`, or for those who just entered the entry
    node) is applied, that `who` takes, in one UPDATE: to the place `to` (reached now), or
    COMPLETED, left at `to.key`, when their walk ends. Returns the ids moved.

    `who` is SQL: a condition is its compiled expression over the customer's profile in
    the journey's workspace (one who has no profile does not meet it); a SPLIT's
    buckets are store.split_sql.split_bucket of (journey, customer, `applied`)."""
    if not enrollment_ids:
        return []
    ends = to.due_at is None
    values = {
        "ids": list(enrollment_ids),
        "at": _NOT_AT_A_NODE if at is None else at,
        "new_node_key": to.key,
        "new_due_at": to.due_at,
        "new_state": (EnrollmentState.COMPLETED if ends else EnrollmentState.INSIDE).value,
        "new_step_index": to.step_index,
        "now": now,
    }
    if isinstance(who, Everyone):
        rows = _MOVE_EVERYONE.rows(connection, values)
    elif isinstance(who, InBuckets):
        rows = _MOVE_IN_BUCKETS.rows(
            connection, {**values, "split_key": applied, "low": who.low, "high": who.high}
        )
    elif isinstance(who, Matching):
        sql = compile_condition(who.condition, connection.dialect.name, now, PROFILES)
        # A scalar subquery, not EXISTS: the database asks it of each enrollment of the
        # batch (found by id), so a batch costs what its size does, whatever the
        # profiles' statistics say. An EXISTS could become a join driven from the
        # profiles, which the planner chose while a bulk import had left their
        # statistics stale (bench/flow.py, its flow phase after an import).
        profile_meets = bound(
            sql,
            f"{'' if who.meets else 'NOT '}COALESCE((SELECT {sql.text} FROM customers "
            "WHERE customers.workspace_id = :profile_workspace "
            f"AND customers.id = enrollments.customer_id), {_FALSE[connection.dialect.name]})",
        ).bindparams(profile_workspace=workspace_id)
        rows = list(connection.execute(_moving(profile_meets), values))
    elif isinstance(who, EventCame):
        came = event_came(connection, workspace_id, who, now)
        rows = list(connection.execute(_moving(came), values))
    else:
        raise ValueError(f"the step processor does not move customers by {who!r}")
    return [row.id for row in rows]


_LIVE_FLOW = Statement(
    select(JOURNEYS.c.workspace_id, VERSIONS.c.nodes)
    .join_from(
        JOURNEYS,
        VERSIONS,
        (VERSIONS.c.journey_id == JOURNEYS.c.id) & (VERSIONS.c.number == JOURNEYS.c.live_version),
    )
    .where(JOURNEYS.c.id == bindparam("journey_id"))
)


def live_flow(connection: Connection, journey_id: str) -> tuple[str, Flow] | None:
    """A journey's workspace and the flow of its live version (None: it has none)."""
    row = _LIVE_FLOW.first(connection, {"journey_id": journey_id})
    if row is None:
        return None
    return row.workspace_id, Flow(tuple(node_from_json(node) for node in row.nodes))


def release_waiting(
    connection: Connection,
    workspace_id: str,
    journey_id: str,
    key: str,
    who: EventCame,
    to: Place,
    now: datetime,
) -> int:
    """Those waiting at the WAIT_FOR_EVENT node `key` of a journey, not due yet, whose
    event came (`who`), move to the place `to` (or complete, when `to.due_at` is None),
    in one UPDATE; returns how many."""
    ends = to.due_at is None
    statement = (
        update(ENROLLMENTS)
        .where(
            ENROLLMENTS.c.journey_id == bindparam("waiting_in"),
            ENROLLMENTS.c.state == written(EnrollmentState.INSIDE),
            ENROLLMENTS.c.node_key == bindparam("at", type_=ENROLLMENTS.c.node_key.type),
            ENROLLMENTS.c.due_at > _MOVED_AT,
            event_came(connection, workspace_id, who, now),
        )
        .values(_MOVE_VALUES)
    )
    values = {
        "waiting_in": journey_id,
        "at": key,
        "new_node_key": to.key,
        "new_due_at": to.due_at,
        "new_state": (EnrollmentState.COMPLETED if ends else EnrollmentState.INSIDE).value,
        "new_step_index": to.step_index,
        "now": now,
    }
    return connection.execute(statement, values).rowcount


def event_came(
    connection: Connection, workspace_id: str, who: EventCame, now: datetime
) -> TextClause:
    """Whether the customer of an enrollment waiting at a WAIT_FOR_EVENT did its event
    (properties meeting its `where`) after reaching the node and by the time it is due
    there (the timeout): `who.came`, or not. On the index ix_customer_events_customer."""
    where = compile_where(who.where, connection.dialect.name, now, "waited.properties")
    # A scalar subquery, for the reason a CONDITION's is one (`move`).
    return bound(
        where,
        f"(SELECT count(*) FROM (SELECT 1 FROM customer_events waited "
        "WHERE waited.workspace_id = :waited_workspace "
        "AND waited.customer_id = enrollments.customer_id AND waited.name = :waited_event "
        "AND waited.at > enrollments.reached_at AND waited.at <= enrollments.due_at "
        f"AND {where.text} LIMIT 1) AS came) {'=' if who.came else '<>'} 1",
    ).bindparams(waited_workspace=workspace_id, waited_event=who.event)
