"""Customers entering journeys, as enrollment rows, and where those inside are.

Set-based: a batch is one statement. What a customer entering a journey is
given is written once (`_entering`), and so is the INSERT ... SELECT that
enters a batch from any source of customer ids (`enter`): the pairs of a
trackEvents or enrollCustomers call, a list's members, the profiles that
meet a condition (SQLite's admissions: one multi-row INSERT of the same
row). A customer already inside the journey is skipped by the partial unique
index ux_enrollments_inside. Moving them on once in: `store.moving`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    String,
    TextClause,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as insert_or_skip

from domain.walking import EnrollmentState
from store.compiled import Statement
from store.lists import json_rows, one_of
from store.tables import ENROLLMENTS

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
    that entered (a customer already inside that journey does not), for the caller to
    count (`entered_counters`) with its transaction's other counters.
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
    return {(row.journey_id, row.customer_id) for row in admitted}


def entered_counters(entered: Iterable[tuple[str, str]]) -> dict[str, Counter[str]]:
    """What these admissions, (journey id, customer id) pairs, add to their journeys'
    counters."""
    counters: dict[str, Counter[str]] = defaultdict(Counter)
    for journey_id, _ in entered:
        counters[journey_id].update(entered=1, inside=1)
    return counters


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
