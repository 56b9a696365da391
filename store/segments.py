"""Segment audiences: lists of customers as rows, and their loading into journeys.

A list is written once, batch by batch, while its upload streams in (one
statement a batch: `COPY` on PostgreSQL, one prepared INSERT run for every
row on SQLite), then its repeated ids are removed in one statement and it
is marked complete. Nothing refers to it until then, so a cut-off upload
leaves nothing half-applied, only rows that `delete_list` (or a later
`delete_abandoned_lists`) removes.

A journey's load walks its list in position order, a batch a statement
(`INSERT ... SELECT ... ON CONFLICT DO NOTHING`: a customer already inside is
skipped by the unique index), and keeps its cursor in `audience_loads` in the
same transaction, so a load stopped by a crash, a FREEZE or an ERROR resumes
where it stopped and never admits anyone twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as insert_or_skip
from sqlalchemy.util import await_only

from domain.condition_sql import compile_condition
from domain.conditions import Condition
from domain.content import AudienceList
from domain.statuses import Status, traits
from domain.walking import EnrollmentState
from store.compiled import Statement
from store.conditions import PROFILES, bound
from store.lists import one_of
from store.tables import (
    AUDIENCE_LISTS,
    AUDIENCE_LOADS,
    AUDIENCE_MEMBERS,
    CUSTOMERS,
    ENROLLMENTS,
    JOURNEYS,
    VERSIONS,
)

# Statuses in which a started load goes on: those that admit (ACTIVE, PAUSED).
_LOADING = [status.value for status in Status if traits(status).admits_new_audience]

# -- writing a list -------------------------------------------------------------

_NEW_LIST = Statement(
    insert(AUDIENCE_LISTS)
    .values(
        id=bindparam("list_id"),
        workspace_id=bindparam("workspace_id"),
        size=0,
        created_at=bindparam("now", type_=AUDIENCE_LISTS.c.created_at.type),
    )
    .returning(AUDIENCE_LISTS.c.pk)
)

_ADD_MEMBER = Statement(insert(AUDIENCE_MEMBERS))


def new_list(connection: Connection, workspace_id: str, now: datetime) -> tuple[int, str]:
    """An empty list being written: its (pk, id)."""
    list_id = str(uuid.uuid4())
    pk = _NEW_LIST.scalar(
        connection, {"list_id": list_id, "workspace_id": workspace_id, "now": now}
    )
    return int(pk), list_id


def add_members(
    connection: Connection, list_pk: int, positions: Sequence[int], customer_ids: Sequence[str]
) -> None:
    """Add customers at these positions (one statement; repeated ids stay until
    `complete_list`). The ids are valid customer ids: no control characters."""
    if not positions:
        return
    if connection.dialect.name == "postgresql":
        # COPY's text format: a row a line, tab-separated; of what a valid id may
        # hold, only the backslash needs escaping (and few lists hold one).
        if any("\\" in customer_id for customer_id in customer_ids):
            customer_ids = [customer_id.replace("\\", "\\\\") for customer_id in customer_ids]
        data = "".join(
            [
                f"{list_pk}\t{position}\t{customer_id}\n"
                for position, customer_id in zip(positions, customer_ids, strict=True)
            ]
        )
        await_only(_copy_members(connection.connection.driver_connection, data))
        return
    _ADD_MEMBER.execute_each(
        connection,
        [
            {"list_pk": list_pk, "position": position, "customer_id": customer_id}
            for position, customer_id in zip(positions, customer_ids, strict=True)
        ],
    )


async def _copy_members(driver_connection: Any, data: str) -> None:
    async with driver_connection.cursor() as cursor:
        # A batch's commit need not wait for its WAL to reach the disk: nothing refers
        # to the list until the transaction that attaches it, whose own commit waits
        # for the WAL up to it, these batches included. A crash before then leaves an
        # incomplete list, swept as abandoned, whichever batches it kept.
        await cursor.execute("SET LOCAL synchronous_commit = off")
        async with cursor.copy(
            "COPY audience_members (list_pk, position, customer_id) FROM STDIN"
        ) as copy:
            await copy.write(data)


# A repeated id keeps its first position; the later ones are removed, and the
# first few of them reported (with their positions: the upload's lines). The
# repeated ids are found by one grouping of the list (a hash of each id once),
# then joined back: a join of the list with itself hashes it twice and costs
# three times as much on a list of a million random ids.
_REPEATED_POSTGRESQL = Statement(
    text(
        "WITH removed AS ("
        " DELETE FROM audience_members later USING ("
        "  SELECT customer_id, min(position) AS first FROM audience_members"
        "  WHERE list_pk = :list_pk GROUP BY customer_id HAVING count(*) > 1) repeated"
        " WHERE later.list_pk = :list_pk AND later.customer_id = repeated.customer_id"
        " AND later.position > repeated.first"
        " RETURNING later.position, later.customer_id)"
        " SELECT count(*) OVER () AS removed, position, customer_id FROM removed"
        " ORDER BY position LIMIT :shown"
    ).columns(removed=Integer, position=Integer, customer_id=String)
)
_REPEATED_SQLITE = Statement(
    text(
        "SELECT position, customer_id FROM ("
        " SELECT position, customer_id,"
        " row_number() OVER (PARTITION BY customer_id ORDER BY position) AS nth"
        " FROM audience_members WHERE list_pk = :list_pk)"
        " WHERE nth > 1 ORDER BY position"
    ).columns(position=Integer, customer_id=String)
)
_REMOVE_MEMBERS_AT = Statement(
    delete(AUDIENCE_MEMBERS).where(
        AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"),
        one_of(AUDIENCE_MEMBERS.c.position, "positions"),
    )
)
_SIZE = Statement(select(func.count()).where(AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk")))
_COMPLETE = Statement(
    update(AUDIENCE_LISTS)
    .where(AUDIENCE_LISTS.c.pk == bindparam("list_pk"))
    .values(
        size=bindparam("size"),
        completed_at=bindparam("now", type_=AUDIENCE_LISTS.c.completed_at.type),
    )
)


def remove_repeated(
    connection: Connection, list_pk: int, shown: int
) -> tuple[int, list[tuple[int, str]]]:
    """Remove every repeat of an id on the list but its first; returns how many were
    removed, and the first `shown` of them as (position, customer id)."""
    if connection.dialect.name == "postgresql":
        found = _REPEATED_POSTGRESQL.rows(connection, {"list_pk": list_pk, "shown": shown})
        removed = int(found[0].removed) if found else 0
        return removed, [(row.position, row.customer_id) for row in found]
    # SQLite holds the whole write lock anyway, and its lists are the smaller ones.
    repeated = [
        (row.position, row.customer_id)
        for row in _REPEATED_SQLITE.rows(connection, {"list_pk": list_pk})
    ]
    if repeated:
        _REMOVE_MEMBERS_AT.execute(
            connection, {"list_pk": list_pk, "positions": [p for p, _ in repeated]}
        )
    return len(repeated), repeated[:shown]


def complete_list(
    connection: Connection, list_pk: int, list_id: str, now: datetime
) -> AudienceList:
    """The list is whole: its size counted, and it may now be referred to."""
    size = int(_SIZE.scalar(connection, {"list_pk": list_pk}))
    _COMPLETE.execute(connection, {"list_pk": list_pk, "size": size, "now": now})
    return AudienceList(list_id, size)


def write_list(
    connection: Connection, workspace_id: str, customer_ids: Sequence[str], now: datetime
) -> AudienceList:
    """A small list written whole (inline ids, distinct and valid), in one transaction."""
    list_pk, list_id = new_list(connection, workspace_id, now)
    add_members(connection, list_pk, range(1, len(customer_ids) + 1), customer_ids)
    return complete_list(connection, list_pk, list_id, now)


_ANY_MEMBER = Statement(
    select(AUDIENCE_MEMBERS.c.position)
    .where(AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"))
    .limit(1)
)


def has_members(connection: Connection, list_pk: int) -> bool:
    return _ANY_MEMBER.first(connection, {"list_pk": list_pk}) is not None


_DELETE_MEMBERS = Statement(
    delete(AUDIENCE_MEMBERS).where(AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"))
)
_DELETE_LIST = Statement(delete(AUDIENCE_LISTS).where(AUDIENCE_LISTS.c.pk == bindparam("list_pk")))


def delete_list(connection: Connection, list_pk: int) -> None:
    """Remove a list nothing refers to (an upload that did not complete)."""
    _DELETE_MEMBERS.execute(connection, {"list_pk": list_pk})
    _DELETE_LIST.execute(connection, {"list_pk": list_pk})


_ABANDONED = Statement(
    select(AUDIENCE_LISTS.c.pk).where(
        AUDIENCE_LISTS.c.completed_at.is_(None),
        AUDIENCE_LISTS.c.created_at < bindparam("before", type_=AUDIENCE_LISTS.c.created_at.type),
    )
)


def delete_abandoned_lists(connection: Connection, before: datetime) -> int:
    """Remove lists whose upload began before `before` and never completed (its
    process stopped mid-upload); returns how many."""
    abandoned = [row.pk for row in _ABANDONED.rows(connection, {"before": before})]
    for list_pk in abandoned:
        delete_list(connection, list_pk)
    return len(abandoned)


_MEMBERS = Statement(
    select(AUDIENCE_MEMBERS.c.customer_id)
    .join(AUDIENCE_LISTS, AUDIENCE_LISTS.c.pk == AUDIENCE_MEMBERS.c.list_pk)
    .where(AUDIENCE_LISTS.c.id == bindparam("list_id"))
    .order_by(AUDIENCE_MEMBERS.c.position)
    .limit(bindparam("first"))
    .offset(bindparam("offset"))
)


def members(connection: Connection, list_id: str, offset: int, first: int) -> list[str]:
    """Up to `first` customer ids of a list, in list order, after the first `offset`."""
    rows = _MEMBERS.rows(connection, {"list_id": list_id, "offset": offset, "first": first})
    return [row.customer_id for row in rows]


# -- loading a list into its journey ------------------------------------------------

_BEGIN_LOAD = Statement(
    insert_or_skip(AUDIENCE_LOADS)
    .from_select(
        ["journey_id", "list_pk", "loaded_through", "started_at"],
        select(
            JOURNEYS.c.id,
            AUDIENCE_LISTS.c.pk,
            literal(0),
            bindparam("now", type_=AUDIENCE_LOADS.c.started_at.type),
        )
        .join(
            VERSIONS,
            (VERSIONS.c.journey_id == JOURNEYS.c.id)
            & (VERSIONS.c.number == JOURNEYS.c.live_version),
        )
        .outerjoin(AUDIENCE_LISTS, AUDIENCE_LISTS.c.id == VERSIONS.c.audience_list)
        .where(
            JOURNEYS.c.id == bindparam("journey_id"),
            VERSIONS.c.audience_list.is_not(None) | VERSIONS.c.audience_condition.is_not(None),
        ),
    )
    .on_conflict_do_nothing()
)


def begin_load(connection: Connection, journey_id: str, now: datetime) -> None:
    """The journey's live audience starts loading (once: a load already begun goes on): its
    list, or the profiles that meet its condition (a load with no list)."""
    _BEGIN_LOAD.execute(connection, {"journey_id": journey_id, "now": now})


def window_is_open(
    start_at: ColumnElement[Any], end_at: ColumnElement[Any], now: ColumnElement[Any]
) -> ColumnElement[bool]:
    """`domain.timing.window_is_open` as SQL (tests/store/test_window_sql.py holds the
    two to the same answers)."""
    return (start_at.is_(None) | (start_at <= now)) & (end_at.is_(None) | (end_at > now))


_NOW = bindparam("now", type_=JOURNEYS.c.start_at.type)
_MORE_TO_LOAD = (
    select(AUDIENCE_MEMBERS.c.position)
    .where(
        AUDIENCE_MEMBERS.c.list_pk == AUDIENCE_LOADS.c.list_pk,
        AUDIENCE_MEMBERS.c.position > AUDIENCE_LOADS.c.loaded_through,
    )
    .exists()
)
# Loads that can move now, locked (those another worker holds are skipped): not
# finished, of journeys in a status that admits, inside their dates (the domain
# checks both again: this only keeps loads that cannot move from filling the
# batch), with customers left to offer, or ACTIVE and ready for AUDIENCE_LOADED.
_LOADS = Statement(
    select(
        AUDIENCE_LOADS.c.journey_id,
        AUDIENCE_LOADS.c.list_pk,
        AUDIENCE_LOADS.c.loaded_through,
        AUDIENCE_LOADS.c.loaded_after,
    )
    .where(
        AUDIENCE_LOADS.c.finished_at.is_(None),
        AUDIENCE_LOADS.c.journey_id.in_(
            select(JOURNEYS.c.id).where(
                JOURNEYS.c.id == AUDIENCE_LOADS.c.journey_id,
                JOURNEYS.c.status.in_(_LOADING),
                window_is_open(JOURNEYS.c.start_at, JOURNEYS.c.end_at, _NOW),
                # A load by condition cannot tell it has more without running it.
                _MORE_TO_LOAD
                | AUDIENCE_LOADS.c.list_pk.is_(None)
                | (JOURNEYS.c.status == Status.ACTIVE.value),
            )
        ),
    )
    .order_by(AUDIENCE_LOADS.c.started_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)

# The journeys of those loads, held FOR SHARE for the batch: a status change
# committed meanwhile waits for it, so counters and ABORT's count never race.
_LOADING_JOURNEYS = Statement(
    select(
        JOURNEYS.c.id,
        JOURNEYS.c.workspace_id,
        JOURNEYS.c.status,
        JOURNEYS.c.start_at,
        JOURNEYS.c.end_at,
        VERSIONS.c.audience_condition,
    )
    .join(
        VERSIONS,
        (VERSIONS.c.journey_id == JOURNEYS.c.id) & (VERSIONS.c.number == JOURNEYS.c.live_version),
    )
    .where(one_of(JOURNEYS.c.id, "ids"))
    .with_for_update(of=JOURNEYS, read=True)
)

_NEXT_POSITIONS = (
    select(AUDIENCE_MEMBERS.c.position)
    .where(
        AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"),
        AUDIENCE_MEMBERS.c.position > bindparam("after"),
    )
    .order_by(AUDIENCE_MEMBERS.c.position)
    .limit(bindparam("limit"))
    .subquery()
)
# Where the next batch of a load ends (the last of the next `limit` positions), and
# how many it holds: fewer than `limit`, it is the list's last.
_BATCH_END = Statement(select(func.max(_NEXT_POSITIONS.c.position), func.count()))

# One parameter for the three times a loaded customer gets (due, entered, updated):
# bound once, converted once.
_ENTERED_AT = bindparam("now", type_=ENROLLMENTS.c.entered_at.type)
_LOAD = Statement(
    insert_or_skip(ENROLLMENTS)
    .from_select(
        ["journey_id", "customer_id", "step_index", "state", "due_at", "entered_at", "updated_at"],
        select(
            bindparam("journey_id", type_=ENROLLMENTS.c.journey_id.type),
            AUDIENCE_MEMBERS.c.customer_id,
            literal(0),
            literal(EnrollmentState.INSIDE.value),
            _ENTERED_AT,
            _ENTERED_AT,
            _ENTERED_AT,
        ).where(
            AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"),
            AUDIENCE_MEMBERS.c.position > bindparam("after"),
            AUDIENCE_MEMBERS.c.position <= bindparam("through"),
        ),
    )
    .on_conflict_do_nothing()
)

# The loaded customers' profiles, created where missing (an enrollment creates one).
_PROFILES = Statement(
    insert_or_skip(CUSTOMERS)
    .from_select(
        ["workspace_id", "id", "attributes", "created_at", "updated_at"],
        select(
            bindparam("workspace_id", type_=CUSTOMERS.c.workspace_id.type),
            AUDIENCE_MEMBERS.c.customer_id,
            bindparam("empty", type_=CUSTOMERS.c.attributes.type),
            _ENTERED_AT,  # created_at
            _ENTERED_AT,  # updated_at
        ).where(
            AUDIENCE_MEMBERS.c.list_pk == bindparam("list_pk"),
            AUDIENCE_MEMBERS.c.position > bindparam("after"),
            AUDIENCE_MEMBERS.c.position <= bindparam("through"),
        ),
    )
    .on_conflict_do_nothing()
)

_ADVANCE_CURSOR = Statement(
    update(AUDIENCE_LOADS)
    .where(AUDIENCE_LOADS.c.journey_id == bindparam("journey_id"))
    .values(loaded_through=bindparam("through"))
)

_FINISH = Statement(
    update(AUDIENCE_LOADS)
    .where(AUDIENCE_LOADS.c.journey_id == bindparam("journey_id"))
    .values(finished_at=bindparam("now", type_=AUDIENCE_LOADS.c.finished_at.type))
)


def loads_to_run(connection: Connection, now: datetime, limit: int) -> list[Any]:
    """(journey_id, list_pk, loaded_through) of loads that can move now, locked."""
    return _LOADS.rows(connection, {"now": now, "limit": limit})


def loading_journeys(connection: Connection, journey_ids: Sequence[str]) -> dict[str, Any]:
    """{id: (id, workspace_id, status, start_at, end_at, audience_condition)}, held against
    status changes."""
    rows = _LOADING_JOURNEYS.rows(connection, {"ids": list(journey_ids)})
    return {row.id: row for row in rows}


class Loaded(NamedTuple):
    """What a load batch did: how many entered, and whether it was the load's last
    (fewer than it could take were left: the load is done)."""

    entered: int
    last: bool


def load_batch(
    connection: Connection, load: Any, workspace_id: str, limit: int, now: datetime
) -> Loaded | None:
    """Offer the next `limit` customers of a load entry, first step due now, and move
    its cursor past them; None when the list is done. A customer already inside
    (enrolled another way) is skipped, and so is one already offered: the cursor
    moves in the same transaction."""
    values = {"list_pk": load.list_pk, "after": load.loaded_through}
    through, found = _BATCH_END.first(connection, {**values, "limit": limit})
    if through is None:
        return None
    entered = _LOAD.execute(
        connection, {**values, "through": through, "journey_id": load.journey_id, "now": now}
    )
    _PROFILES.execute(
        connection,
        {**values, "through": through, "workspace_id": workspace_id, "empty": {}, "now": now},
    )
    _ADVANCE_CURSOR.execute(connection, {"journey_id": load.journey_id, "through": through})
    return Loaded(entered, last=found < limit)


def finish_load(connection: Connection, journey_id: str, now: datetime) -> None:
    _FINISH.execute(connection, {"journey_id": journey_id, "now": now})


# -- loading the profiles that meet a condition ---------------------------------------

_ADVANCE_CONDITION_CURSOR = Statement(
    update(AUDIENCE_LOADS)
    .where(AUDIENCE_LOADS.c.journey_id == bindparam("journey_id"))
    .values(loaded_after=bindparam("through"))
)


def load_condition_batch(
    connection: Connection,
    load: Any,
    workspace_id: str,
    condition: Condition,
    limit: int,
    now: datetime,
) -> Loaded | None:
    """Offer the next `limit` profiles (in id order, after the load's cursor) that meet
    the condition now entry, and move the cursor past them; None when no profile after
    the cursor meets it. As for a list, the cursor moves in the same transaction, so
    nobody is offered twice; a batch of fewer than `limit` is the last."""
    sql = compile_condition(condition, connection.dialect.name, now, PROFILES)
    after = "customers.id > :after AND " if load.loaded_after is not None else ""
    matching = f"customers.workspace_id = :workspace AND {after}{sql.text}"
    values = {"workspace": workspace_id, "after": load.loaded_after}
    columns = "journey_id, customer_id, step_index, state, due_at, entered_at, updated_at"
    inside = f"0, '{EnrollmentState.INSIDE}', :entered, :entered, :entered"
    if connection.dialect.name == "postgresql":
        # The batch is found once, and entered in the same statement.
        statement = bound(
            sql,
            f"WITH batch AS (SELECT customers.id FROM customers WHERE {matching} "
            "ORDER BY customers.id LIMIT :limit), "
            f"entered AS (INSERT INTO enrollments ({columns}) SELECT :journey, batch.id, "
            f"{inside} FROM batch ON CONFLICT DO NOTHING RETURNING 1) "
            "SELECT (SELECT max(id) FROM batch) AS through, "
            "(SELECT count(*) FROM batch) AS found, "
            "(SELECT count(*) FROM entered) AS entered",
        ).bindparams(bindparam("entered", type_=ENROLLMENTS.c.entered_at.type))
        row = connection.execute(
            statement, {**values, "limit": limit, "journey": load.journey_id, "entered": now}
        ).one()
        if row.through is None:
            return None
        _ADVANCE_CONDITION_CURSOR.execute(
            connection, {"journey_id": load.journey_id, "through": row.through}
        )
        return Loaded(int(row.entered), last=row.found < limit)
    through, found = connection.execute(
        bound(
            sql,
            f"SELECT max(id), count(*) FROM (SELECT customers.id FROM customers "
            f"WHERE {matching} ORDER BY customers.id LIMIT :limit) batch",
        ),
        {**values, "limit": limit},
    ).one()
    if through is None:
        return None
    insert_statement = bound(
        sql,
        f"INSERT INTO enrollments ({columns}) SELECT :journey, customers.id, {inside} "
        f"FROM customers WHERE {matching} AND customers.id <= :through ON CONFLICT DO NOTHING",
    ).bindparams(bindparam("entered", type_=ENROLLMENTS.c.entered_at.type))
    entered = connection.execute(
        insert_statement,
        {**values, "journey": load.journey_id, "entered": now, "through": through},
    ).rowcount
    _ADVANCE_CONDITION_CURSOR.execute(
        connection, {"journey_id": load.journey_id, "through": through}
    )
    return Loaded(int(entered), last=found < limit)
