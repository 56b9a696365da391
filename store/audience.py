"""Customers and messages in bulk: every statement here moves a batch.

Admission is one multi-row INSERT (a customer already inside is skipped by
the unique index, and reported); processing locks a batch of due
enrollments, and the domain's step outcome for each (journey, step) group
becomes one UPDATE and, for a SEND, one INSERT ... SELECT of its deliveries
from those enrollments; hand-over and delivery move a batch of deliveries with one UPDATE each (a
batch's outcomes, each with its own next time and error, one executemany).
Counters (`journey_stats`) change in the same transaction, once per journey
per batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as insert_or_skip

from domain.audience import PROCESSING_STATUSES, listens_for_events
from domain.channels import HOLDING_RETRIES
from domain.conditions import AttributeCondition, where_from_json
from domain.content import JourneyKind, Step
from domain.statuses import Status
from domain.walking import DeliveryState, EnrollmentState
from store.columns import random_id
from store.compiled import Statement
from store.lists import json_rows, one_of
from store.mapping import step_from_json
from store.tables import DELIVERIES, ENROLLMENTS, JOURNEYS, STATS, VERSIONS

_PROCESSING = [status.value for status in PROCESSING_STATUSES]
_LISTENING_STATUSES = [status.value for status in Status if listens_for_events(status)]
_HOLDING_RETRIES = [status.value for status in HOLDING_RETRIES]

# -- entry ------------------------------------------------------------------

# EVENT_TRIGGERED journeys listening for these events (domain.audience:
# listens_for_events), held FOR SHARE so a status change waits for this
# admission (and the admission sees it).
_LISTENING = Statement(
    select(
        JOURNEYS.c.id,
        JOURNEYS.c.status,
        JOURNEYS.c.start_at,
        JOURNEYS.c.end_at,
        JOURNEYS.c.trigger_event,
        VERSIONS.c.trigger_where,
    )
    # The live version's filter on the trigger's properties.
    .select_from(
        JOURNEYS.outerjoin(
            VERSIONS,
            (VERSIONS.c.journey_id == JOURNEYS.c.id)
            & (VERSIONS.c.number == JOURNEYS.c.live_version),
        )
    )
    .where(
        JOURNEYS.c.workspace_id == bindparam("workspace_id"),
        JOURNEYS.c.kind == JourneyKind.EVENT_TRIGGERED.value,
        one_of(JOURNEYS.c.trigger_event, "names"),
        JOURNEYS.c.status.in_(_LISTENING_STATUSES),
    )
    .order_by(JOURNEYS.c.pk)
    .with_for_update(read=True, of=JOURNEYS)
)

_FOR_ADMISSION = Statement(
    select(JOURNEYS.c.id, JOURNEYS.c.status, JOURNEYS.c.start_at, JOURNEYS.c.end_at)
    .where(
        JOURNEYS.c.id == bindparam("journey_id"),
        JOURNEYS.c.workspace_id == bindparam("workspace_id"),
    )
    .with_for_update(read=True)
)

_ADMITTED = (ENROLLMENTS.c.journey_id, ENROLLMENTS.c.customer_id)
_ADMIT = Statement(insert_or_skip(ENROLLMENTS).on_conflict_do_nothing().returning(*_ADMITTED))
# PostgreSQL: the pairs as one JSON parameter, in one statement of a fixed text.
_PAIRS = json_rows("pairs", journey_id=String(), customer_id=String())
_ENTERING_AT = bindparam("now", type_=ENROLLMENTS.c.entered_at.type)
_ADMIT_PAIRS = Statement(
    insert_or_skip(ENROLLMENTS)
    .from_select(
        ["journey_id", "customer_id", "step_index", "state", "due_at", "entered_at", "updated_at"],
        select(
            _PAIRS.c.journey_id,
            _PAIRS.c.customer_id,
            literal(0),
            literal(EnrollmentState.INSIDE.value),
            _ENTERING_AT,
            _ENTERING_AT,
            _ENTERING_AT,
        ).select_from(_PAIRS),
    )
    .on_conflict_do_nothing()
    .returning(*_ADMITTED)
)


class ListeningJourney(NamedTuple):
    id: str
    status: str
    start_at: datetime | None
    end_at: datetime | None
    trigger_event: str
    # The live version's filter on the trigger's properties (empty: every trigger).
    trigger_where: tuple[AttributeCondition, ...]


def listening_journeys(
    connection: Connection, workspace_id: str, names: Sequence[str]
) -> list[ListeningJourney]:
    """The event-triggered journeys of a workspace that listen for one of `names`, with
    their live version's `trigger_where`, locked against status changes."""
    rows = _LISTENING.rows(connection, {"workspace_id": workspace_id, "names": list(names)})
    return [
        ListeningJourney(
            row.id,
            row.status,
            row.start_at,
            row.end_at,
            row.trigger_event,
            where_from_json(row.trigger_where, "triggerWhere") if row.trigger_where else (),
        )
        for row in rows
    ]


def journey_for_admission(connection: Connection, workspace_id: str, journey_id: str) -> Any:
    """(id, status, start_at, end_at) of a journey, locked against status changes."""
    return _FOR_ADMISSION.first(
        connection, {"workspace_id": workspace_id, "journey_id": journey_id}
    )


def admit(
    connection: Connection, admissions: Iterable[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """Enrol (journey id, customer id) pairs, first step due now; returns the pairs
    that entered (a customer already inside that journey does not), and counts them.
    They are written in one order, so that two admissions that share pairs wait for
    each other rather than deadlock."""
    pairs = sorted(set(admissions))
    if not pairs:
        return set()
    if connection.dialect.name == "postgresql":
        given = json.dumps([{"journey_id": j, "customer_id": c} for j, c in pairs])
        admitted = _ADMIT_PAIRS.rows(connection, {"pairs": given, "now": now})
    else:
        rows = [
            {
                "journey_id": journey_id,
                "customer_id": customer_id,
                "step_index": 0,
                "state": EnrollmentState.INSIDE.value,
                "due_at": now,
                "entered_at": now,
                "updated_at": now,
            }
            for journey_id, customer_id in pairs
        ]
        admitted = _ADMIT.rows_many(connection, rows)
    entered = {(row.journey_id, row.customer_id) for row in admitted}
    per_journey: dict[str, int] = {}
    for journey_id, _ in entered:
        per_journey[journey_id] = per_journey.get(journey_id, 0) + 1
    add_to_counters(connection, {j: {"entered": n, "inside": n} for j, n in per_journey.items()})
    return entered


# -- counters ----------------------------------------------------------------


def add_to_counters(connection: Connection, changes: Mapping[str, Mapping[str, int]]) -> None:
    """Add to journeys' counters: {journey id: {counter: amount}}; one UPDATE a journey,
    in the order of their ids, so that transactions changing the counters of several
    journeys at once (two workers' batches, an admission) lock their rows in one order
    and never deadlock."""
    for journey_id in sorted(changes):
        amounts = {name: amount for name, amount in changes[journey_id].items() if amount}
        if amounts:
            _counter_update(tuple(sorted(amounts))).execute(
                connection, {"journey": journey_id, **{f"add_{n}": a for n, a in amounts.items()}}
            )


@cache
def _counter_update(names: tuple[str, ...]) -> Statement:
    """Adding to these counters of one journey: built once per set of counters."""
    return Statement(
        update(STATS)
        .where(STATS.c.journey_id == bindparam("journey"))
        .values({name: STATS.c[name] + bindparam(f"add_{name}") for name in names})
    )


_EXIT_COUNTERS = Statement(
    update(STATS)
    .where(STATS.c.journey_id == bindparam("journey"))
    .values(
        exited=STATS.c.exited + STATS.c.inside,
        inside=0,
        cancelled=STATS.c.cancelled + STATS.c.queued,
        queued=0,
    )
)


def count_everyone_out(connection: Connection, journey_id: str) -> None:
    """The journey exits everyone inside and cancels its queued messages: the
    counters say so at once; the rows are settled in batches later (`settle_exits`)."""
    _EXIT_COUNTERS.execute(connection, {"journey": journey_id})


_STATS = Statement(select(STATS).where(one_of(STATS.c.journey_id, "ids")))


def counters(connection: Connection, journey_ids: Sequence[str]) -> dict[str, Any]:
    return {row.journey_id: row for row in _STATS.rows(connection, {"ids": list(journey_ids)})}


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


# -- processing -----------------------------------------------------------------


def _written(state: StrEnum) -> ColumnElement[Any]:
    """A state written into the statement's text, not bound: a partial index (`WHERE
    state = 'INSIDE'`) serves a query only when the planner can see the same condition,
    and a prepared statement's generic plan, which PostgreSQL takes after five runs,
    cannot see a bound value (it sorted a journey's whole backlog for every batch)."""
    return literal_column(f"'{state.value}'", String)


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
            ENROLLMENTS.c.state == _written(EnrollmentState.INSIDE),
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
            ENROLLMENTS.c.step_index,
        )
        .where(
            ENROLLMENTS.c.journey_id == journey_id,
            ENROLLMENTS.c.state == _written(EnrollmentState.INSIDE),
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
    select(_SHARE.c.id, _SHARE.c.journey_id, _SHARE.c.customer_id, _SHARE.c.step_index)
    .select_from(_WANTED)
    .join(_SHARE, true())
)

_STEPS = Statement(
    select(VERSIONS.c.journey_id, VERSIONS.c.number, VERSIONS.c.steps).where(
        one_of(VERSIONS.c.journey_id, "journey_ids")
    )
)

_MOVE = Statement(
    update(ENROLLMENTS)
    .where(one_of(ENROLLMENTS.c.id, "ids"))
    .values(
        step_index=bindparam("next_index"),
        due_at=bindparam("next_due_at", type_=ENROLLMENTS.c.due_at.type),
        state=bindparam("next_state"),
        updated_at=bindparam("now", type_=ENROLLMENTS.c.updated_at.type),
    )
)

# A SEND's deliveries, one per enrollment of the group, written from the enrollments
# themselves (INSERT ... SELECT: one short statement per group, whatever its size);
# one that exists for that enrollment and step is skipped (a step applied twice
# never sends twice). Each row's public id is made by the database in this same
# statement. Binds are named `new_<column>`: a bind may not share a name with a
# column the statement writes.
_QUEUED_COLUMNS = (
    "public_id",
    "journey_id",
    "enrollment_id",
    "customer_id",
    "step_index",
    "channel",
    "template",
    "state",
    "not_before",
    "attempts",
    "created_at",
    "updated_at",
)
_QUEUED_AT = bindparam("now", type_=DELIVERIES.c.created_at.type)
_QUEUE = Statement(
    insert_or_skip(DELIVERIES)
    .from_select(
        list(_QUEUED_COLUMNS),
        select(
            random_id(),
            ENROLLMENTS.c.journey_id,
            ENROLLMENTS.c.id,
            ENROLLMENTS.c.customer_id,
            *(
                bindparam(f"new_{name}", type_=DELIVERIES.c[name].type)
                for name in ("step_index", "channel", "template", "state", "not_before")
            ),
            bindparam("new_attempts", type_=DELIVERIES.c.attempts.type),
            _QUEUED_AT,  # created_at
            _QUEUED_AT,  # updated_at
        ).where(one_of(ENROLLMENTS.c.id, "ids")),
    )
    .on_conflict_do_nothing()
    .returning(DELIVERIES.c.id, DELIVERIES.c.public_id, DELIVERIES.c.customer_id)
)


def busy_journeys(connection: Connection, now: datetime, limit: int) -> list[Any]:
    """(id, workspace_id, live_version, send_delay_seconds) of processing journeys with
    someone due."""
    return _BUSY_JOURNEYS.rows(connection, {"now": now, "journeys": limit})


def due_enrollments(
    connection: Connection, journey_ids: Sequence[str], now: datetime, limit: int
) -> list[Any]:
    """(id, journey_id, customer_id, step_index) of up to about `limit` due
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


def live_steps(connection: Connection, journeys: Sequence[Any]) -> dict[str, tuple[Step, ...]]:
    """The steps of each journey's live version."""
    live = {journey.id: journey.live_version for journey in journeys}
    found: dict[str, tuple[Step, ...]] = {}
    for row in _STEPS.rows(connection, {"journey_ids": list(live)}):
        if live[row.journey_id] == row.number:
            found[row.journey_id] = tuple(step_from_json(step) for step in row.steps)
    return found


def move(
    connection: Connection,
    enrollment_ids: Sequence[int],
    next_index: int,
    next_due_at: datetime | None,
    now: datetime,
) -> None:
    """Move enrollments to the next step (or complete them: no due time)."""
    state = EnrollmentState.INSIDE if next_due_at is not None else EnrollmentState.COMPLETED
    _MOVE.execute(
        connection,
        {
            "ids": list(enrollment_ids),
            "next_index": next_index,
            "next_due_at": next_due_at,
            "next_state": state.value,
            "now": now,
        },
    )


def queue_deliveries(
    connection: Connection,
    enrollment_ids: Sequence[int],
    step_index: int,
    channel: str,
    template: str,
    now: datetime,
    *,
    state: DeliveryState = DeliveryState.QUEUED,
    not_before: datetime,
    attempts: int = 0,
) -> list[Any]:
    """The deliveries of the SEND at `step_index` (on `channel`, of `template`) for these
    enrollments of one journey, in `state`: QUEUED until `not_before`; or, for a message
    that goes at once, HANDED_OVER with its first attempt made and `not_before` its lease,
    or DELIVERED. One already written for that enrollment and step is skipped (a step
    applied twice never sends twice). Returns (id, public_id, customer_id) of each one
    written, so that counters stay exact."""
    if not enrollment_ids:
        return []
    return _QUEUE.rows(
        connection,
        {
            "ids": list(enrollment_ids),
            "new_step_index": step_index,
            "new_channel": channel,
            "new_template": template,
            "new_state": state.value,
            "new_not_before": not_before,
            "new_attempts": attempts,
            "now": now,
        },
    )


# -- delivery ---------------------------------------------------------------------

_DELIVERY_COLUMNS = (
    DELIVERIES.c.id,
    DELIVERIES.c.public_id,
    DELIVERIES.c.journey_id,
    JOURNEYS.c.workspace_id,
    DELIVERIES.c.customer_id,
    DELIVERIES.c.channel,
    DELIVERIES.c.template,
    DELIVERIES.c.attempts,
)

_READY = Statement(
    select(*_DELIVERY_COLUMNS)
    .join(JOURNEYS, JOURNEYS.c.id == DELIVERIES.c.journey_id)
    .where(
        DELIVERIES.c.state == _written(DeliveryState.QUEUED),
        DELIVERIES.c.not_before <= bindparam("now", type_=DELIVERIES.c.not_before.type),
        JOURNEYS.c.status.in_(_PROCESSING),
    )
    .order_by(DELIVERIES.c.not_before)
    .limit(bindparam("limit"))
    .with_for_update(of=DELIVERIES, skip_locked=True)
)

# Handed-over deliveries whose next attempt is due: a retry, or an attempt whose
# outcome was never recorded (its process stopped). Of journeys in any status
# (a message handed over is never recalled) but those that hold retries (ERROR).
_RETRIES_DUE = Statement(
    select(*_DELIVERY_COLUMNS)
    .join(JOURNEYS, JOURNEYS.c.id == DELIVERIES.c.journey_id)
    .where(
        DELIVERIES.c.state == _written(DeliveryState.HANDED_OVER),
        DELIVERIES.c.not_before <= bindparam("now", type_=DELIVERIES.c.not_before.type),
        JOURNEYS.c.status.not_in(_HOLDING_RETRIES),
    )
    .order_by(DELIVERIES.c.not_before)
    .limit(bindparam("limit"))
    .with_for_update(of=DELIVERIES, skip_locked=True)
)

# An attempt begins: handed over (again), its attempt counted, and due again at
# `lease` unless its outcome is recorded first.
_ATTEMPT = Statement(
    update(DELIVERIES)
    .where(one_of(DELIVERIES.c.id, "ids"))
    .values(
        state=DeliveryState.HANDED_OVER.value,
        attempts=DELIVERIES.c.attempts + 1,
        not_before=bindparam("lease", type_=DELIVERIES.c.not_before.type),
        updated_at=bindparam("now", type_=DELIVERIES.c.updated_at.type),
    )
)

_ATTEMPTS_MADE = Statement(
    select(DELIVERIES.c.id, DELIVERIES.c.state, DELIVERIES.c.attempts)
    .where(one_of(DELIVERIES.c.id, "ids"))
    .with_for_update()
)

_OUTCOME = Statement(
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("delivery"))
    .values(
        state=bindparam("new_state"),
        not_before=bindparam("next_at", type_=DELIVERIES.c.not_before.type),
        last_error=bindparam("error"),
        updated_at=bindparam("now", type_=DELIVERIES.c.updated_at.type),
    )
)

_STREAK = Statement(
    update(STATS)
    .where(STATS.c.journey_id == bindparam("journey"))
    .values(failures_in_a_row=STATS.c.failures_in_a_row * bindparam("keep") + bindparam("more"))
    .returning(STATS.c.failures_in_a_row)
)

_END_STREAK = Statement(
    update(STATS).where(STATS.c.journey_id == bindparam("journey")).values(failures_in_a_row=0)
)

_SET_STATE = Statement(
    update(DELIVERIES)
    .where(one_of(DELIVERIES.c.id, "ids"))
    .values(
        state=bindparam("new_state"),
        attempts=DELIVERIES.c.attempts + bindparam("tries"),
        updated_at=bindparam("now", type_=DELIVERIES.c.updated_at.type),
    )
)


def ready_deliveries(connection: Connection, now: datetime, limit: int) -> list[Any]:
    """Queued deliveries past their recall window, of journeys that process, locked."""
    return _READY.rows(connection, {"now": now, "limit": limit})


def retries_due(connection: Connection, now: datetime, limit: int) -> list[Any]:
    """Handed-over deliveries due for another attempt, of journeys that do not hold
    retries, locked; rows another worker holds are skipped."""
    return _RETRIES_DUE.rows(connection, {"now": now, "limit": limit})


def begin_attempts(
    connection: Connection, delivery_ids: Sequence[int], now: datetime, lease: datetime
) -> None:
    """Deliveries (queued, or handed over and due again) go to their channel: HANDED_OVER,
    one more attempt, and due again at `lease` if no outcome is recorded by then."""
    _ATTEMPT.execute(connection, {"ids": list(delivery_ids), "now": now, "lease": lease})


def attempts_made(connection: Connection, delivery_ids: Sequence[int]) -> dict[int, Any]:
    """{id: (id, state, attempts)} of these deliveries, locked until the transaction ends."""
    if not delivery_ids:
        return {}
    return {row.id: row for row in _ATTEMPTS_MADE.rows(connection, {"ids": list(delivery_ids)})}


def record_outcomes(
    connection: Connection,
    outcomes: Sequence[tuple[int, DeliveryState, datetime, str | None]],
    now: datetime,
) -> None:
    """(delivery id, new state, next attempt's time, last error) for each delivery."""
    if outcomes:
        _OUTCOME.execute_many(
            connection,
            [
                {"delivery": d, "new_state": s.value, "next_at": t, "error": e, "now": now}
                for d, s, t, e in outcomes
            ],
        )


def extend_failure_run(connection: Connection, journey_id: str, kept: bool, more: int) -> int:
    """The journey's run of consecutive failures: kept (or ended) and `more` added;
    returns its new length."""
    found = _STREAK.scalar(connection, {"journey": journey_id, "keep": int(kept), "more": more})
    return int(found or 0)


def end_failure_run(connection: Connection, journey_id: str) -> None:
    _END_STREAK.execute(connection, {"journey": journey_id})


def set_delivery_state(
    connection: Connection,
    delivery_ids: Sequence[int],
    state: DeliveryState,
    now: datetime,
    tries: int = 0,
) -> None:
    _SET_STATE.execute(
        connection,
        {"ids": list(delivery_ids), "new_state": state.value, "now": now, "tries": tries},
    )


# -- settling an ABORT --------------------------------------------------------------

_EXITED_JOURNEYS = Statement(
    select(JOURNEYS.c.id)
    .where(
        one_of(JOURNEYS.c.status, "statuses"),
        select(ENROLLMENTS.c.id)
        .where(
            ENROLLMENTS.c.journey_id == JOURNEYS.c.id,
            ENROLLMENTS.c.state == _written(EnrollmentState.INSIDE),
        )
        .exists()
        | select(DELIVERIES.c.id)
        .where(
            DELIVERIES.c.journey_id == JOURNEYS.c.id,
            DELIVERIES.c.state == _written(DeliveryState.QUEUED),
        )
        .exists(),
    )
    .limit(bindparam("limit"))
)


def journeys_to_settle(connection: Connection, statuses: Sequence[str], limit: int) -> list[str]:
    return [
        row.id
        for row in _EXITED_JOURNEYS.rows(connection, {"statuses": list(statuses), "limit": limit})
    ]


_SETTLE_ENROLLMENTS = Statement(
    update(ENROLLMENTS)
    .where(
        ENROLLMENTS.c.id.in_(
            select(ENROLLMENTS.c.id)
            .where(
                ENROLLMENTS.c.journey_id == bindparam("journey"),
                ENROLLMENTS.c.state == _written(EnrollmentState.INSIDE),
            )
            .limit(bindparam("limit"))
            .scalar_subquery()
        )
    )
    .values(state=EnrollmentState.EXITED.value, due_at=None)
)

_CANCEL_DELIVERIES = Statement(
    update(DELIVERIES)
    .where(
        DELIVERIES.c.id.in_(
            select(DELIVERIES.c.id)
            .where(
                DELIVERIES.c.journey_id == bindparam("journey"),
                DELIVERIES.c.state == _written(DeliveryState.QUEUED),
            )
            .limit(bindparam("limit"))
            .scalar_subquery()
        )
    )
    .values(state=DeliveryState.CANCELLED.value)
)


def settle_exits(connection: Connection, journey_id: str, limit: int) -> int:
    """Mark up to `limit` of an exited journey's enrollments EXITED and up to `limit`
    of its queued deliveries CANCELLED; returns how many rows moved (0: settled)."""
    values = {"journey": journey_id, "limit": limit}
    return _SETTLE_ENROLLMENTS.execute(connection, values) + _CANCEL_DELIVERIES.execute(
        connection, values
    )
