"""Customers in journeys, as enrollment rows: entering, falling due, moving on.

Set-based: a batch is one statement. What a customer entering a journey is
given is written once (`_entering`), and so is the INSERT ... SELECT that
enters a batch from any source of customer ids (`enter`): the pairs of a
trackEvents or enrollCustomers call, a list's members, the profiles that
meet a condition (SQLite's admissions: one multi-row INSERT of the same
row). A customer already inside the journey is skipped by the partial unique
index ux_enrollments_inside. The step processor locks a batch of due
enrollments in one SELECT and moves each (journey, node) group with one
UPDATE per outcome of the node (`move`), which picks its customers in SQL:
all of them, those whose profile meets a condition, those in a SPLIT's
buckets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Select,
    String,
    TextClause,
    bindparam,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as insert_or_skip
from sqlalchemy.sql.dml import Update

from domain.condition_sql import compile_condition, compile_where
from domain.flow import Flow
from domain.flow_walk import EventCame, Everyone, InBuckets, Matching, Who
from domain.statuses import PROCESSING_STATUSES
from domain.walking import EnrollmentState
from store.columns import written
from store.compiled import Statement
from store.conditions import PROFILES, bound
from store.counters import add_to_counters
from store.lists import json_rows, one_of
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


# -- entering -----------------------------------------------------------------------

# One parameter for the three times an entering customer gets (due, entered,
# updated): bound once, converted once.
_NOW = bindparam("now", type_=ENROLLMENTS.c.entered_at.type)


def _entering(
    journey_id: ColumnElement[Any],
    customer_id: ColumnElement[Any],
    event_properties: ColumnElement[Any] | None = None,
) -> dict[str, ColumnElement[Any]]:
    """The row of a customer that enters a journey now, column by column: inside, due at
    once, at no node yet (node_key null): the processor brings them to the entry node
    (domain.walking.apply_at), which only it knows. An event's admission keeps the
    event's properties (a message's `event`)."""
    extra = {} if event_properties is None else {"event_properties": event_properties}
    return {
        **extra,
        "journey_id": journey_id,
        "customer_id": customer_id,
        "step_index": literal(0),
        "state": literal(EnrollmentState.INSIDE.value),
        "reached_at": _NOW,
        "due_at": _NOW,
        "entered_at": _NOW,
        "updated_at": _NOW,
    }


def enter(
    journey_id: ColumnElement[Any],
    customer_id: ColumnElement[Any],
    *where: ColumnElement[Any] | TextClause,
) -> Insert:
    """Customers enter a journey now, all in one INSERT ... SELECT: `customer_id` is a
    column of their source (its FROM is taken from it), `journey_id` a column or a
    parameter, `where` filters the source; the statement binds `now`. A customer already
    inside that journey is skipped (ON CONFLICT DO NOTHING, on ux_enrollments_inside),
    so the rows it writes are those who entered; counting them is the caller's part."""
    row = _entering(journey_id, customer_id)
    return (
        insert_or_skip(ENROLLMENTS)
        .from_select(list(row), select(*row.values()).where(*where))
        .on_conflict_do_nothing()
    )


_ENTERED = (ENROLLMENTS.c.journey_id, ENROLLMENTS.c.customer_id)
# PostgreSQL: the pairs as one JSON parameter, in one statement of a fixed text.
_PAIRS = json_rows("pairs", journey_id=String(), customer_id=String(), event=JSONB())
_ENTER_PAIRS = Statement(
    insert_or_skip(ENROLLMENTS)
    .from_select(
        list(_entering(_PAIRS.c.journey_id, _PAIRS.c.customer_id, _PAIRS.c.event)),
        select(*_entering(_PAIRS.c.journey_id, _PAIRS.c.customer_id, _PAIRS.c.event).values()),
    )
    .on_conflict_do_nothing()
    .returning(*_ENTERED)
)
# SQLite: one multi-row INSERT of the same row (SQLAlchemy's insertmanyvalues).
_ENTER_EACH = Statement(
    insert_or_skip(ENROLLMENTS)
    .values(
        _entering(
            bindparam("journey", type_=ENROLLMENTS.c.journey_id.type),
            bindparam("customer", type_=ENROLLMENTS.c.customer_id.type),
            bindparam("event", type_=ENROLLMENTS.c.event_properties.type),
        )
    )
    .on_conflict_do_nothing()
    .returning(*_ENTERED)
)


def admit(
    connection: Connection,
    admissions: Iterable[tuple[str, str]],
    now: datetime,
    events: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> set[tuple[str, str]]:
    """Enrol (journey id, customer id) pairs, first step due now; returns the pairs
    that entered (a customer already inside that journey does not), and counts them.
    `events` gives the properties of the event that admits a pair, kept with it.
    They are written in one order, so that two admissions that share pairs wait for
    each other rather than deadlock."""
    pairs = sorted(set(admissions))
    if not pairs:
        return set()
    events = events or {}
    if connection.dialect.name == "postgresql":
        given = json.dumps(
            [{"journey_id": j, "customer_id": c, "event": events.get((j, c))} for j, c in pairs]
        )
        admitted = _ENTER_PAIRS.rows(connection, {"pairs": given, "now": now})
    else:
        admitted = _ENTER_EACH.rows_many(
            connection,
            [
                {"journey": j, "customer": c, "event": events.get((j, c)), "now": now}
                for j, c in pairs
            ],
        )
    entered = {(row.journey_id, row.customer_id) for row in admitted}
    per_journey: dict[str, int] = {}
    for journey_id, _ in entered:
        per_journey[journey_id] = per_journey.get(journey_id, 0) + 1
    add_to_counters(connection, {j: {"entered": n, "inside": n} for j, n in per_journey.items()})
    return entered


_EVER_ENTERED = Statement(
    select(ENROLLMENTS.c.journey_id, ENROLLMENTS.c.customer_id).where(
        one_of(ENROLLMENTS.c.customer_id, "customers"), one_of(ENROLLMENTS.c.journey_id, "journeys")
    )
)


def ever_entered(connection: Connection, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of these (journey id, customer id) pairs who have ever entered the journey
    (inside now or not): one SELECT, on the customers' index."""
    wanted = set(pairs)
    if not wanted:
        return set()
    values = {
        "customers": sorted({c for _, c in wanted}),
        "journeys": sorted({j for j, _ in wanted}),
    }
    return {(r.journey_id, r.customer_id) for r in _EVER_ENTERED.rows(connection, values)} & wanted


# -- where customers are --------------------------------------------------------------

_AT_STEPS = Statement(
    select(ENROLLMENTS.c.journey_id, ENROLLMENTS.c.step_index, func.count())
    .where(
        one_of(ENROLLMENTS.c.journey_id, "ids"),
        ENROLLMENTS.c.state == EnrollmentState.INSIDE.value,
    )
    .group_by(ENROLLMENTS.c.journey_id, ENROLLMENTS.c.step_index)
)


def customers_at_steps(
    connection: Connection, journey_ids: Sequence[str]
) -> dict[str, dict[int, int]]:
    """How many customers are inside each journey, by the step index they are at
    (an index count on the enrollments of these journeys only)."""
    found: dict[str, dict[int, int]] = {journey_id: {} for journey_id in journey_ids}
    for journey_id, index, count in _AT_STEPS.rows(connection, {"ids": list(journey_ids)}):
        found[journey_id][index] = int(count)
    return found


# -- due, and moving on -------------------------------------------------------------

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
    # The state is bound, not written: the rows are found by id (the primary key), and a
    # partial index on state = 'INSIDE' must not look cheaper to a planner whose
    # statistics a bulk enrolment has just outdated (it scanned every customer inside).
    return (
        update(ENROLLMENTS)
        .where(
            one_of(ENROLLMENTS.c.id, "ids"),
            ENROLLMENTS.c.state == bindparam("inside", EnrollmentState.INSIDE.value),
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
