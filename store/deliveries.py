"""Messages as delivery rows: queued by a SEND node, handed over, their outcomes.

Set-based: a SEND's deliveries are one INSERT ... SELECT from the enrollments
of its (journey, node) group that it moved; a batch of deliveries is taken with one
locking SELECT and handed over with one UPDATE; a batch's outcomes, each with
its own next time and error, are one executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as insert_or_skip

from domain.channels import HOLDING_RETRIES
from domain.statuses import PROCESSING_STATUSES
from domain.walking import DeliveryState
from store.columns import random_id, written
from store.compiled import Statement
from store.lists import one_of
from store.tables import DELIVERIES, ENROLLMENTS, JOURNEYS

_PROCESSING = [status.value for status in PROCESSING_STATUSES]
_HOLDING_RETRIES = [status.value for status in HOLDING_RETRIES]

# -- queueing ---------------------------------------------------------------------------

# A SEND's deliveries, one per enrollment of the group, written from the enrollments
# themselves (INSERT ... SELECT: one short statement per group, whatever its size);
# one that exists for that enrollment and node is skipped (ux_deliveries_node: a node
# applied twice never sends twice in one entry). Each row's public id is made by the
# database in this same statement. Binds are named `new_<column>`: a bind may not
# share a name with a column the statement writes.
_QUEUED_COLUMNS = (
    "public_id",
    "journey_id",
    "enrollment_id",
    "customer_id",
    "node_key",
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
                for name in ("node_key", "channel", "template", "state", "not_before")
            ),
            bindparam("new_attempts", type_=DELIVERIES.c.attempts.type),
            _QUEUED_AT,  # created_at
            _QUEUED_AT,  # updated_at
        ).where(one_of(ENROLLMENTS.c.id, "ids")),
    )
    .on_conflict_do_nothing()
    .returning(
        DELIVERIES.c.id,
        DELIVERIES.c.public_id,
        DELIVERIES.c.customer_id,
        DELIVERIES.c.enrollment_id,
    )
)


def queue_deliveries(
    connection: Connection,
    enrollment_ids: Sequence[int],
    node_key: str,
    channel: str,
    template: str,
    now: datetime,
    *,
    not_before: datetime,
) -> list[Any]:
    """The deliveries of the SEND node `node_key` (on `channel`, of `template`) for these
    enrollments of one journey, QUEUED until `not_before` (the step processor hands those
    due now over in the same transaction). One already written for that enrollment and
    node is skipped (a node applied twice never sends twice). Returns (id, public_id,
    customer_id, enrollment_id) of each one written, so that counters stay exact."""
    if not enrollment_ids:
        return []
    return _QUEUE.rows(
        connection,
        {
            "ids": list(enrollment_ids),
            "new_node_key": node_key,
            "new_channel": channel,
            "new_template": template,
            "new_state": DeliveryState.QUEUED.value,
            "new_not_before": not_before,
            "new_attempts": 0,
            "now": now,
        },
    )


# -- hand-over and outcomes --------------------------------------------------------

_DELIVERY_COLUMNS = (
    DELIVERIES.c.id,
    DELIVERIES.c.public_id,
    DELIVERIES.c.journey_id,
    JOURNEYS.c.workspace_id,
    DELIVERIES.c.customer_id,
    DELIVERIES.c.channel,
    DELIVERIES.c.template,
    DELIVERIES.c.attempts,
    DELIVERIES.c.enrollment_id,
    DELIVERIES.c.node_key,
)


def _due_in(state: DeliveryState, journeys: ColumnElement[bool]) -> Statement:
    """Deliveries in `state` whose `not_before` has come, of journeys meeting `journeys`,
    the longest due first, locked (those another worker holds are skipped)."""
    return Statement(
        select(*_DELIVERY_COLUMNS)
        .join(JOURNEYS, JOURNEYS.c.id == DELIVERIES.c.journey_id)
        .where(
            DELIVERIES.c.state == written(state),
            DELIVERIES.c.not_before <= bindparam("now", type_=DELIVERIES.c.not_before.type),
            journeys,
        )
        .order_by(DELIVERIES.c.not_before)
        .limit(bindparam("limit"))
        .with_for_update(of=DELIVERIES, skip_locked=True)
    )


_READY = _due_in(DeliveryState.QUEUED, JOURNEYS.c.status.in_(_PROCESSING))
# Handed-over deliveries whose next attempt is due: a retry, or an attempt whose
# outcome was never recorded (its process stopped). Of journeys in any status
# (a message handed over is never recalled) but those that hold retries (ERROR).
_RETRIES_DUE = _due_in(DeliveryState.HANDED_OVER, JOURNEYS.c.status.not_in(_HOLDING_RETRIES))

_NOW = bindparam("now", type_=DELIVERIES.c.updated_at.type)
# The first hand-over's time stays: it is what a frequency cap counts.
_HANDED_OVER_AT = func.coalesce(DELIVERIES.c.handed_over_at, _NOW)

# An attempt begins: handed over (again), its attempt counted, and due again at
# `lease` unless its outcome is recorded first.
_ATTEMPT = Statement(
    update(DELIVERIES)
    .where(one_of(DELIVERIES.c.id, "ids"))
    .values(
        state=DeliveryState.HANDED_OVER.value,
        attempts=DELIVERIES.c.attempts + 1,
        not_before=bindparam("lease", type_=DELIVERIES.c.not_before.type),
        handed_over_at=_HANDED_OVER_AT,
        updated_at=_NOW,
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


# Delivered: by the channel that had it, or handed over and delivered at once (`log`).
_DELIVERED = Statement(
    update(DELIVERIES)
    .where(one_of(DELIVERIES.c.id, "ids"))
    .values(
        state=DeliveryState.DELIVERED.value,
        attempts=DELIVERIES.c.attempts + bindparam("tries"),
        handed_over_at=_HANDED_OVER_AT,
        updated_at=_NOW,
    )
)

# Held past quiet hours: still QUEUED, due when they end.
_HOLD = Statement(
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("delivery"))
    .values(not_before=bindparam("until", type_=DELIVERIES.c.not_before.type), updated_at=_NOW)
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


def set_delivered(
    connection: Connection, delivery_ids: Sequence[int], now: datetime, tries: int = 0
) -> None:
    """These deliveries are DELIVERED, with `tries` more attempts counted (1 for a message
    handed over and delivered in one step)."""
    if delivery_ids:
        _DELIVERED.execute(connection, {"ids": list(delivery_ids), "now": now, "tries": tries})


def hold_deliveries(
    connection: Connection, holds: Sequence[tuple[int, datetime]], now: datetime
) -> None:
    """(delivery id, until): queued deliveries stay QUEUED, due again `until`."""
    if holds:
        _HOLD.execute_many(
            connection, [{"delivery": d, "until": until, "now": now} for d, until in holds]
        )
