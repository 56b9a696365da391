"""Segment audiences as lists: customer ids as rows, written once, read in order.

A list is written once, batch by batch, while its upload streams in (one
statement a batch: `COPY` on PostgreSQL, one prepared INSERT run for every
row on SQLite), then its repeated ids are removed in one statement and it
is marked complete. Nothing refers to it until then, so a cut-off upload
leaves nothing half-applied, only rows that `delete_list` (or a later
`delete_abandoned_lists`) removes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.util import await_only

from domain.content import AudienceList
from store.compiled import Statement
from store.lists import one_of
from store.tables import AUDIENCE_LISTS, AUDIENCE_MEMBERS

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
