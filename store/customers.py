"""Customers' profiles in bulk, what a customer looks like, and erasing one.

Every statement moves a set: an upsert reads the batch's profiles in one
SELECT (locked, in id order) and writes them back in one multi-row
`INSERT ... ON CONFLICT (workspace_id, id) DO UPDATE`; `ensure_profiles` is one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING` from the list of ids bound as a
whole (an array on PostgreSQL, JSON text on SQLite); an erasure is one DELETE
per table, each returning what it removed so the journeys' counters stay exact.

The upsert and `ensure_profiles` use each dialect's own INSERT (PostgreSQL's and
SQLite's `on_conflict_*` clauses), compiled once per dialect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, delete, func, select, true
from sqlalchemy.dialects import postgresql, sqlite

from store.compiled import Statement
from store.lists import ValueList, one_of
from store.tables import (
    AUDIENCE_LISTS,
    AUDIENCE_MEMBERS,
    CUSTOMER_EVENTS,
    CUSTOMERS,
    DELIVERIES,
    ENROLLMENTS,
    JOURNEYS,
)

_DIALECTS = ("postgresql", "sqlite")


def _for_dialect(statements: Mapping[str, Statement], connection: Connection) -> Statement:
    return statements[connection.dialect.name]


# -- writing profiles -------------------------------------------------------------

# The batch's existing profiles, locked in id order (two batches that share
# customers lock them in the same order, and never deadlock).
_PROFILES_FOR_UPDATE = Statement(
    select(CUSTOMERS.c.id, CUSTOMERS.c.attributes)
    .where(
        CUSTOMERS.c.workspace_id == bindparam("workspace_id"),
        one_of(CUSTOMERS.c.id, "ids"),
    )
    .order_by(CUSTOMERS.c.id)
    .with_for_update()
)


def _upsert(insert: Any) -> Statement:
    """Write profiles: a new one is inserted; one the batch read (`existing`, locked)
    gets its merged attributes. A conflict on a profile the batch did not read (made
    by another transaction since) changes nothing and is not returned: the caller
    reads it and merges again, so a concurrent creation is never overwritten."""
    statement = insert(CUSTOMERS)
    return Statement(
        statement.on_conflict_do_update(
            index_elements=[CUSTOMERS.c.workspace_id, CUSTOMERS.c.id],
            set_={
                "attributes": statement.excluded.attributes,
                "updated_at": statement.excluded.updated_at,
            },
            where=one_of(CUSTOMERS.c.id, "existing"),
        ).returning(CUSTOMERS.c.id)
    )


_UPSERT = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


def _ensure(insert: Any, dialect: str) -> Statement:
    ids = bindparam("ids", type_=ValueList(String()))
    if dialect == "postgresql":
        wanted = func.unnest(ids).table_valued("value").render_derived(name="wanted")
    else:
        wanted = func.json_each(ids).table_valued("value")
    now = bindparam("now", type_=CUSTOMERS.c.created_at.type)
    return Statement(
        insert(CUSTOMERS)
        .from_select(
            ["workspace_id", "id", "attributes", "created_at", "updated_at"],
            select(
                bindparam("workspace_id", type_=CUSTOMERS.c.workspace_id.type),
                wanted.c.value,
                bindparam("empty", type_=CUSTOMERS.c.attributes.type),
                now,
                now,
            )
            .select_from(wanted)
            # SQLite reads `ON CONFLICT` after a bare FROM as a join's ON: a WHERE
            # clause ends the SELECT.
            .where(true()),
        )
        .on_conflict_do_nothing()
    )


_ENSURE = {
    "postgresql": _ensure(postgresql.insert, "postgresql"),
    "sqlite": _ensure(sqlite.insert, "sqlite"),
}


def profiles_for_update(
    connection: Connection, workspace_id: str, customer_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """{id: attributes} of those of these customers that have a profile, locked until
    the transaction ends."""
    if not customer_ids:
        return {}
    rows = _PROFILES_FOR_UPDATE.rows(
        connection, {"workspace_id": workspace_id, "ids": list(customer_ids)}
    )
    return {row.id: dict(row.attributes) for row in rows}


def write_profiles(
    connection: Connection,
    workspace_id: str,
    profiles: Mapping[str, Mapping[str, Any]],
    existing: Sequence[str],
    now: datetime,
) -> set[str]:
    """Write `profiles` ({id: attributes}) in one multi-row upsert: created when new,
    attributes replaced (and `updated_at` set) for those in `existing` (read and locked
    by `profiles_for_update` in this transaction). Returns the ids written; a missing
    one was created by another transaction after it was read."""
    if not profiles:
        return set()
    existing_ids = sorted(existing)
    rows = [
        {
            "workspace_id": workspace_id,
            "id": customer_id,
            "attributes": dict(profiles[customer_id]),
            "created_at": now,
            "updated_at": now,
            "existing": existing_ids,
        }
        for customer_id in sorted(profiles)
    ]
    written = _for_dialect(_UPSERT, connection).rows_many(connection, rows)
    return {row.id for row in written}


def ensure_profiles(
    connection: Connection, workspace_id: str, customer_ids: Sequence[str], now: datetime
) -> None:
    """Give each of these customers that has none an empty profile (`{}`), in one
    statement; existing profiles are left as they are. For a tracked event, an
    enrollment or a segment load: a customer someone acts on has a profile."""
    if not customer_ids:
        return
    _for_dialect(_ENSURE, connection).execute(
        connection,
        {
            "workspace_id": workspace_id,
            "ids": sorted(set(customer_ids)),
            "empty": {},
            "now": now,
        },
    )


# -- reading a customer -------------------------------------------------------------

_PROFILE = Statement(
    select(
        CUSTOMERS.c.id, CUSTOMERS.c.attributes, CUSTOMERS.c.created_at, CUSTOMERS.c.updated_at
    ).where(
        CUSTOMERS.c.workspace_id == bindparam("workspace_id"),
        CUSTOMERS.c.id == bindparam("customer_id"),
    )
)

_OF_WORKSPACE = select(JOURNEYS.c.id).where(JOURNEYS.c.workspace_id == bindparam("workspace_id"))

_ENROLLMENTS = Statement(
    select(
        ENROLLMENTS.c.journey_id,
        ENROLLMENTS.c.state,
        ENROLLMENTS.c.step_index,
        ENROLLMENTS.c.entered_at,
    )
    .where(
        ENROLLMENTS.c.customer_id == bindparam("customer_id"),
        ENROLLMENTS.c.journey_id.in_(_OF_WORKSPACE),
    )
    .order_by(ENROLLMENTS.c.entered_at.desc(), ENROLLMENTS.c.id.desc())
    .limit(bindparam("limit"))
)

_EVENTS = Statement(
    select(CUSTOMER_EVENTS.c.name, CUSTOMER_EVENTS.c.properties, CUSTOMER_EVENTS.c.at)
    .where(
        CUSTOMER_EVENTS.c.workspace_id == bindparam("workspace_id"),
        CUSTOMER_EVENTS.c.customer_id == bindparam("customer_id"),
    )
    .order_by(CUSTOMER_EVENTS.c.at.desc(), CUSTOMER_EVENTS.c.id.desc())
    .limit(bindparam("limit"))
)


def profile(connection: Connection, workspace_id: str, customer_id: str) -> Any:
    """(id, attributes, created_at, updated_at) of a profile, or None."""
    return _PROFILE.first(connection, {"workspace_id": workspace_id, "customer_id": customer_id})


def enrollments(
    connection: Connection, workspace_id: str, customer_id: str, limit: int
) -> list[Any]:
    """(journey_id, state, step_index, entered_at) of the customer's enrollments in the
    workspace's journeys, newest first."""
    values = {"workspace_id": workspace_id, "customer_id": customer_id, "limit": limit}
    return _ENROLLMENTS.rows(connection, values)


def events(connection: Connection, workspace_id: str, customer_id: str, limit: int) -> list[Any]:
    """(name, properties, at) of the customer's latest events, latest first."""
    values = {"workspace_id": workspace_id, "customer_id": customer_id, "limit": limit}
    return _EVENTS.rows(connection, values)


# -- erasing a customer ---------------------------------------------------------------

# The customer's enrollments in the workspace's journeys, locked first: a step
# processor that holds one finishes its batch (and the delivery it writes) before
# the erasure goes on, and none moves them after.
_LOCK_ENROLLMENTS = Statement(
    select(ENROLLMENTS.c.id)
    .where(
        ENROLLMENTS.c.customer_id == bindparam("customer_id"),
        ENROLLMENTS.c.journey_id.in_(_OF_WORKSPACE),
    )
    .order_by(ENROLLMENTS.c.id)
    .with_for_update()
)

_DELETE_DELIVERIES = Statement(
    delete(DELIVERIES)
    .where(
        DELIVERIES.c.enrollment_id.in_(
            select(ENROLLMENTS.c.id).where(
                ENROLLMENTS.c.customer_id == bindparam("customer_id"),
                ENROLLMENTS.c.journey_id.in_(_OF_WORKSPACE),
            )
        )
    )
    .returning(DELIVERIES.c.journey_id, DELIVERIES.c.state)
)

_DELETE_ENROLLMENTS = Statement(
    delete(ENROLLMENTS)
    .where(
        ENROLLMENTS.c.customer_id == bindparam("customer_id"),
        ENROLLMENTS.c.journey_id.in_(_OF_WORKSPACE),
    )
    .returning(ENROLLMENTS.c.journey_id, ENROLLMENTS.c.state, ENROLLMENTS.c.node_key)
)

# The journeys concerned, held FOR SHARE against a status change (an ABORT counts
# everyone out at once: the erasure must know whether it already has).
_JOURNEY_STATUSES = Statement(
    select(JOURNEYS.c.id, JOURNEYS.c.status)
    .where(one_of(JOURNEYS.c.id, "ids"))
    .order_by(JOURNEYS.c.id)
    .with_for_update(read=True)
)

_DELETE_LIST_ROWS = Statement(
    delete(AUDIENCE_MEMBERS).where(
        AUDIENCE_MEMBERS.c.customer_id == bindparam("customer_id"),
        AUDIENCE_MEMBERS.c.list_pk.in_(
            select(AUDIENCE_LISTS.c.pk).where(
                AUDIENCE_LISTS.c.workspace_id == bindparam("workspace_id")
            )
        ),
    )
)

_DELETE_EVENTS = Statement(
    delete(CUSTOMER_EVENTS).where(
        CUSTOMER_EVENTS.c.workspace_id == bindparam("workspace_id"),
        CUSTOMER_EVENTS.c.customer_id == bindparam("customer_id"),
    )
)

_DELETE_PROFILE = Statement(
    delete(CUSTOMERS).where(
        CUSTOMERS.c.workspace_id == bindparam("workspace_id"),
        CUSTOMERS.c.id == bindparam("customer_id"),
    )
)


def lock_enrollments(connection: Connection, workspace_id: str, customer_id: str) -> int:
    """Lock the customer's enrollments in the workspace's journeys; how many there are."""
    values = {"workspace_id": workspace_id, "customer_id": customer_id}
    return len(_LOCK_ENROLLMENTS.rows(connection, values))


def delete_deliveries(connection: Connection, workspace_id: str, customer_id: str) -> list[Any]:
    """Delete the customer's deliveries in the workspace's journeys; (journey_id, state)
    of each one deleted."""
    values = {"workspace_id": workspace_id, "customer_id": customer_id}
    return _DELETE_DELIVERIES.rows(connection, values)


def delete_enrollments(connection: Connection, workspace_id: str, customer_id: str) -> list[Any]:
    """Delete the customer's enrollments in the workspace's journeys (its deliveries
    first: they refer to them); (journey_id, state, node_key) of each one deleted."""
    values = {"workspace_id": workspace_id, "customer_id": customer_id}
    return _DELETE_ENROLLMENTS.rows(connection, values)


def journey_statuses(connection: Connection, journey_ids: Sequence[str]) -> dict[str, str]:
    """{id: status} of these journeys, held against status changes."""
    if not journey_ids:
        return {}
    rows = _JOURNEY_STATUSES.rows(connection, {"ids": sorted(set(journey_ids))})
    return {row.id: row.status for row in rows}


def delete_list_rows(connection: Connection, workspace_id: str, customer_id: str) -> int:
    """Remove the customer from the workspace's audience lists; how many rows went."""
    values = {"workspace_id": workspace_id, "customer_id": customer_id}
    return _DELETE_LIST_ROWS.execute(connection, values)


def delete_events(connection: Connection, workspace_id: str, customer_id: str) -> int:
    values = {"workspace_id": workspace_id, "customer_id": customer_id}
    return _DELETE_EVENTS.execute(connection, values)


def delete_profile(connection: Connection, workspace_id: str, customer_id: str) -> bool:
    values = {"workspace_id": workspace_id, "customer_id": customer_id}
    return _DELETE_PROFILE.execute(connection, values) > 0
