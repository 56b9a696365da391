"""Settling an ABORT: an exited journey's rows catch up with its counters.

The counters say everyone is out as of the ABORT's commit
(`store.counters.count_everyone_out`); the rows follow in the workers, a
batch at a time: one UPDATE marks up to a batch of enrollments EXITED, one
more cancels up to a batch of queued deliveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update

from domain.walking import DeliveryState, EnrollmentState
from store.columns import written
from store.compiled import Statement
from store.lists import one_of
from store.tables import DELIVERIES, ENROLLMENTS, JOURNEYS

_EXITED_JOURNEYS = Statement(
    select(JOURNEYS.c.id)
    .where(
        one_of(JOURNEYS.c.status, "statuses"),
        select(ENROLLMENTS.c.id)
        .where(
            ENROLLMENTS.c.journey_id == JOURNEYS.c.id,
            ENROLLMENTS.c.state == written(EnrollmentState.INSIDE),
        )
        .exists()
        | select(DELIVERIES.c.id)
        .where(
            DELIVERIES.c.journey_id == JOURNEYS.c.id,
            DELIVERIES.c.state == written(DeliveryState.QUEUED),
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


def _settle(table: Table, state: StrEnum, new_state: StrEnum, **more: Any) -> Statement:
    """Up to `limit` of a journey's rows of `table` in `state` move to `new_state`."""
    return Statement(
        update(table)
        .where(
            table.c.id.in_(
                select(table.c.id)
                .where(table.c.journey_id == bindparam("journey"), table.c.state == written(state))
                .limit(bindparam("limit"))
                .scalar_subquery()
            )
        )
        .values(state=new_state.value, **more)
    )


_SETTLE_ENROLLMENTS = _settle(
    ENROLLMENTS, EnrollmentState.INSIDE, EnrollmentState.EXITED, due_at=None
)
_CANCEL_DELIVERIES = _settle(DELIVERIES, DeliveryState.QUEUED, DeliveryState.CANCELLED)


def settle_exits(connection: Connection, journey_id: str, limit: int) -> int:
    """Mark up to `limit` of an exited journey's enrollments EXITED and up to `limit`
    of its queued deliveries CANCELLED; returns how many rows moved (0: settled)."""
    values = {"journey": journey_id, "limit": limit}
    return _SETTLE_ENROLLMENTS.execute(connection, values) + _CANCEL_DELIVERIES.execute(
        connection, values
    )
