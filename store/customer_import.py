"""A customer import's rows: staged batch by batch, merged into `customers` at once.

Each batch of an import's lines is written to `customer_imports` as it streams
in (`COPY` on PostgreSQL, one prepared INSERT run for every row on SQLite).
Once the whole import is read and no line was refused, one statement merges
its rows into `customers`: a new id is inserted (its nulls dropped), an
existing one gets the change (given keys set, null keys removed, the others
kept), and an id given on several lines gets their changes in line order.
Then the import's rows are deleted; those of an import cut off are deleted by
`discard`, or, when its process stopped, by `discard_abandoned`.

A profile may hold at most MAX_ATTRIBUTES attributes after the merge: a
merge that would make more is rolled back and `TooManyAttributes` says which
ids, by the line of their last occurrence.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, String, bindparam, text
from sqlalchemy.util import await_only

from domain.customers import MAX_ATTRIBUTES
from store.compiled import Statement
from store.tables import CUSTOMERS

# An import's id: its start time in seconds, then 31 random bits (until 2106).
_RANDOM_BITS = 31


def new_import_id(now: datetime) -> int:
    return (int(now.timestamp()) << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)


class TooManyAttributes(Exception):
    """The merge would make profiles of more than MAX_ATTRIBUTES attributes: `total`
    of them; the first few as (line of the id's last occurrence, id, attributes)."""

    def __init__(self, total: int, first: list[tuple[int, str, int]]) -> None:
        super().__init__(f"{total} profiles would hold more than {MAX_ATTRIBUTES} attributes")
        self.total = total
        self.first = first


# -- staging ------------------------------------------------------------------------


def stage(
    connection: Connection,
    import_id: int,
    lines: Sequence[int],
    customer_ids: Sequence[str],
    changes: Sequence[str],
) -> None:
    """Write a batch of an import's lines: valid ids (no control characters) and their
    changes as JSON text (control characters escaped), in one statement."""
    if not lines:
        return
    if connection.dialect.name == "postgresql":
        # COPY's text format: a row a line, tab-separated; of what a valid id and a JSON
        # text may hold, only the backslash needs escaping.
        prefix = f"{import_id}\t"
        data = "".join(
            [
                f"{prefix}{line}\t{customer_id}\t{change}\n"
                for line, customer_id, change in zip(lines, customer_ids, changes, strict=True)
            ]
        )
        if "\\" in data:
            data = data.replace("\\", "\\\\")
        await_only(_copy(connection.connection.driver_connection, data))
        return
    connection.exec_driver_sql(
        "INSERT INTO customer_imports (import_id, line, customer_id, attributes) "
        "VALUES (?, ?, ?, ?)",
        [
            (import_id, line, customer_id, change)
            for line, customer_id, change in zip(lines, customer_ids, changes, strict=True)
        ],
    )


async def _copy(driver_connection: Any, data: str) -> None:
    async with driver_connection.cursor() as cursor:
        # Nothing reads these rows before the merge, whose own commit waits for the WAL.
        await cursor.execute("SET LOCAL synchronous_commit = off")
        async with cursor.copy(
            "COPY customer_imports (import_id, line, customer_id, attributes) FROM STDIN"
        ) as copy:
            await copy.write(data)


_DISCARD = Statement(text("DELETE FROM customer_imports WHERE import_id = :import_id"))
_DISCARD_BEFORE = Statement(text("DELETE FROM customer_imports WHERE import_id < :first_kept"))


def discard(connection: Connection, import_id: int) -> None:
    _DISCARD.execute(connection, {"import_id": import_id})


def discard_abandoned(connection: Connection, before: datetime) -> int:
    """Remove the rows of imports begun before `before`; returns how many."""
    first_kept = int(before.timestamp()) << _RANDOM_BITS
    return _DISCARD_BEFORE.execute(connection, {"first_kept": first_kept})


# -- merging: PostgreSQL ----------------------------------------------------------

# Ids on several lines: their changes, folded in line order into one (a later value
# wins, a later null removes), `{}` for an id whose lines change nothing.
_FOLDED = """
    SELECT s.customer_id, max(s.line) AS last, coalesce(
        jsonb_object_agg(e.key, e.value ORDER BY s.line) FILTER (WHERE e.key IS NOT NULL),
        '{}') AS attributes
    FROM customer_imports s LEFT JOIN LATERAL jsonb_each(s.attributes) e ON true
    WHERE s.import_id = :import_id %s
    GROUP BY s.customer_id"""
_REPEATED = """
    SELECT customer_id FROM customer_imports WHERE import_id = :import_id
    GROUP BY customer_id HAVING count(*) > 1"""
_OF_REPEATED = "AND s.customer_id IN (SELECT customer_id FROM repeated)"
_KEYS = "(SELECT count(*) FROM jsonb_object_keys(%s))"
# Counting a profile's keys costs more than merging it: a jsonb object smaller than
# this (in bytes) cannot hold more than MAX_ATTRIBUTES keys (each costs 8 bytes of
# entries and one of name at least; 101 of them, over 960), and is not counted.
_SMALL = 900
assert _SMALL < 8 + 9 * (MAX_ATTRIBUTES + 1)
_MERGED_KEYS = _KEYS % "jsonb_strip_nulls(coalesce(c.attributes, '{}') || ch.attributes)"


def _postgresql_merge(repeated: bool, removals: bool) -> Statement:
    """The merge: each line's change as it is (`repeated`: but those of an id on
    several lines, folded into one). `removals`: some change holds a null, to drop
    from a new profile and apply to an existing one. A profile the merge would make
    too large is skipped (and not counted): the caller compares the counts."""
    if repeated:
        changes = f"""repeated AS ({_REPEATED}), changes AS (
            SELECT s.customer_id, s.attributes FROM customer_imports s
            WHERE s.import_id = :import_id
            AND NOT EXISTS (SELECT FROM repeated r WHERE r.customer_id = s.customer_id)
            UNION ALL
            SELECT customer_id, attributes FROM ({_FOLDED % _OF_REPEATED}) f),"""
        source = f"changes s WHERE {_KEYS % 'jsonb_strip_nulls(s.attributes)'} <= :most"
        expected = "(SELECT count(*) FROM changes)"
    else:
        changes = ""
        source = "customer_imports s WHERE s.import_id = :import_id"
        expected = ":staged"
    proposed, merged = "s.attributes", "c.attributes || excluded.attributes"
    if removals:
        proposed = (
            "CASE WHEN EXISTS (SELECT FROM customers e WHERE e.workspace_id = :workspace_id"
            " AND e.id = s.customer_id) THEN s.attributes"
            " ELSE jsonb_strip_nulls(s.attributes) END"
        )
        merged = f"jsonb_strip_nulls({merged})"
    return Statement(
        text(
            f"""WITH {changes} upserted AS (
                INSERT INTO customers AS c (workspace_id, id, attributes, created_at, updated_at)
                SELECT CAST(:workspace_id AS varchar), s.customer_id, {proposed}, :now, :now
                FROM {source}
                ON CONFLICT (workspace_id, id) DO UPDATE
                SET attributes = {merged}, updated_at = excluded.updated_at
                WHERE pg_column_size({merged}) < {_SMALL} OR {_KEYS % merged} <= :most
                RETURNING xmax = 0 AS created)
            SELECT {expected} AS expected,
                count(*) FILTER (WHERE created) AS created,
                count(*) FILTER (WHERE NOT created) AS updated
            FROM upserted"""
        )
        .bindparams(bindparam("now", type_=CUSTOMERS.c.created_at.type))
        .columns(expected=Integer, created=Integer, updated=Integer)
    )


_MERGES = {(r, n): _postgresql_merge(r, n) for r in (False, True) for n in (False, True)}

_TOO_MANY_POSTGRESQL = Statement(
    text(
        f"""WITH changes AS ({_FOLDED % ""}), merged AS (
            SELECT ch.last, ch.customer_id, {_MERGED_KEYS} AS attributes
            FROM changes ch LEFT JOIN customers c
            ON c.workspace_id = :workspace_id AND c.id = ch.customer_id)
        SELECT last, customer_id, attributes, count(*) OVER () AS total FROM merged
        WHERE attributes > :most ORDER BY last LIMIT :shown"""
    ).columns(last=Integer, customer_id=String, attributes=Integer, total=Integer)
)


def _sqlstate(error: Exception) -> str | None:
    return getattr(getattr(error, "orig", error), "sqlstate", None)


def _merge_postgresql(connection: Connection, values: dict[str, Any], removals: bool) -> Any:
    # Most imports give each id once: merged as they are. A repeated id ("cannot affect
    # row a second time") or a profile too large (not counted) stops that: then the
    # import is merged folded, and failing that, the profiles too large are found.
    for repeated in (False, True):
        savepoint = connection.begin_nested()
        try:
            row = _MERGES[repeated, removals].first(connection, values)
        except Exception as error:
            savepoint.rollback()
            if repeated or _sqlstate(error) != "21000":  # cardinality_violation
                raise
            continue
        if row.created + row.updated == row.expected:
            savepoint.commit()
            return row.created, row.updated
        savepoint.rollback()
    raise _too_many(_TOO_MANY_POSTGRESQL.rows(connection, values))


# -- merging: SQLite -----------------------------------------------------------------

# SQLite applies an INSERT ... SELECT's rows in order, each upsert seeing the ones
# before: an id given on several lines gets their changes in line order as it is.
# `json_patch` is RFC 7396's merge: a null removes the key.
_EXISTING_SQLITE = Statement(
    text(
        """SELECT count(*) AS ids, coalesce(sum(EXISTS (SELECT 1 FROM customers c
            WHERE c.workspace_id = :workspace_id AND c.id = d.customer_id)), 0) AS existing
        FROM (SELECT DISTINCT customer_id FROM customer_imports
              WHERE import_id = :import_id) d"""
    ).columns(ids=Integer, existing=Integer)
)
_MERGE_SQLITE = Statement(
    text(
        """INSERT INTO customers (workspace_id, id, attributes, created_at, updated_at)
        SELECT :workspace_id, customer_id, attributes, :now, :now FROM customer_imports
        WHERE import_id = :import_id ORDER BY line
        ON CONFLICT (workspace_id, id) DO UPDATE
        SET attributes = json_patch(customers.attributes, excluded.attributes),
            updated_at = excluded.updated_at"""
    ).bindparams(bindparam("now", type_=CUSTOMERS.c.created_at.type))
)
# A new profile kept the nulls of its first line: dropped.
_STRIP_NULLS_SQLITE = Statement(
    text(
        """UPDATE customers SET attributes = json_patch('{}', attributes)
        WHERE workspace_id = :workspace_id AND id IN (
            SELECT customer_id FROM customer_imports WHERE import_id = :import_id)"""
    )
)
_TOO_MANY_SQLITE = Statement(
    text(
        """WITH ids AS (SELECT customer_id, max(line) AS last FROM customer_imports
            WHERE import_id = :import_id GROUP BY customer_id),
        merged AS (SELECT ids.last, ids.customer_id,
            (SELECT count(*) FROM json_each(c.attributes)) AS attributes
            FROM ids JOIN customers c
            ON c.workspace_id = :workspace_id AND c.id = ids.customer_id)
        SELECT last, customer_id, attributes, count(*) OVER () AS total FROM merged
        WHERE attributes > :most ORDER BY last LIMIT :shown"""
    ).columns(last=Integer, customer_id=String, attributes=Integer, total=Integer)
)


def _merge_sqlite(connection: Connection, values: dict[str, Any], removals: bool) -> Any:
    counted = _EXISTING_SQLITE.first(connection, values)
    _MERGE_SQLITE.execute(connection, values)
    if removals:
        _STRIP_NULLS_SQLITE.execute(connection, values)
    too_many = _TOO_MANY_SQLITE.rows(connection, values)
    if too_many:
        raise _too_many(too_many)  # the caller's transaction is rolled back
    return counted.ids - counted.existing, counted.existing


def _too_many(rows: list[Any]) -> TooManyAttributes:
    assert rows, "a merge skipped profiles that are not too large"
    return TooManyAttributes(
        rows[0].total, [(row.last, row.customer_id, row.attributes) for row in rows]
    )


def merge(
    connection: Connection,
    workspace_id: str,
    import_id: int,
    now: datetime,
    *,
    staged: int,
    removals: bool,
    shown: int,
) -> tuple[int, int]:
    """Merge the import's `staged` rows into the workspace's profiles (`removals`: some
    change holds a null); returns (created, updated), or raises TooManyAttributes
    (the first `shown`), to be raised out of the transaction, which rolls it back."""
    values = dict(workspace_id=workspace_id, import_id=import_id, now=now, staged=staged)
    values.update(most=MAX_ATTRIBUTES, shown=shown)
    merging = _merge_postgresql if connection.dialect.name == "postgresql" else _merge_sqlite
    created, updated = merging(connection, values, removals)
    return int(created), int(updated)
