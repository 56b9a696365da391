"""What a tracked event does to customers already inside journeys, one statement a batch.

- `convert`: the customers a goal event takes out of journeys (CONVERTED), whatever
  node they are at;
- `release`: the customers a WAIT_FOR_EVENT node waiting for the event moves on, if
  they reached the node before the event happened and their timeout had not run out
  by then.

Each is one UPDATE ... FROM the batch's rows, given as one JSON parameter (a fixed
statement text, whatever the batch's size): `json_to_recordset` on PostgreSQL,
`json_each` on SQLite. Both run in the transaction that records the events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from domain.walking import EnrollmentState
from store.columns import UTCDateTime

_MOMENT = UTCDateTime()


@dataclass(frozen=True)
class Release:
    """A customer a WAIT_FOR_EVENT node (`node_key`) of a journey releases for an event
    that happened `event_at`, if waiting there: to `target`, due there at `due_at`
    (None, with `target` None: their walk ends)."""

    journey_id: str
    customer_id: str
    node_key: str
    event_at: datetime
    target: str | None
    due_at: datetime | None
    step_index: int


def _rows(connection: Connection, alias: str, columns: dict[str, str]) -> str:
    """The FROM item of a JSON parameter `alias` holding rows with these columns."""
    if connection.dialect.name == "postgresql":
        typed = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        return f"json_to_recordset(CAST(:{alias} AS JSON)) AS {alias}({typed})"
    fields = ", ".join(f"json_extract(value, '$.{name}') AS {name}" for name in columns)
    return f"(SELECT {fields} FROM json_each(:{alias})) AS {alias}"


def _moment(connection: Connection, moment: datetime | None) -> Any:
    """A moment inside a JSON parameter, as the database compares it with a column's:
    ISO text with an offset on PostgreSQL, SQLAlchemy's own text on SQLite."""
    if moment is None:
        return None
    if connection.dialect.name == "postgresql":
        return moment.isoformat()
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


_INSIDE = f"'{EnrollmentState.INSIDE.value}'"
_PAIRS = {"journey_id": "text", "customer_id": "text"}


def convert(connection: Connection, pairs: Sequence[tuple[str, str]], now: datetime) -> list[Any]:
    """Take these (journey id, customer id) out of their journeys, CONVERTED, if inside;
    (journey_id, customer_id, node_key) of each one taken out."""
    if not pairs:
        return []
    given = json.dumps([{"journey_id": j, "customer_id": c} for j, c in sorted(set(pairs))])
    statement = text(
        f"UPDATE enrollments SET state = '{EnrollmentState.CONVERTED.value}', "
        "due_at = NULL, updated_at = :now "
        f"FROM {_rows(connection, 'goal', _PAIRS)} "
        "WHERE enrollments.journey_id = goal.journey_id "
        "AND enrollments.customer_id = goal.customer_id "
        f"AND enrollments.state = {_INSIDE} "
        "RETURNING enrollments.journey_id, enrollments.customer_id, enrollments.node_key"
    ).bindparams(bindparam("now", type_=_MOMENT))
    return list(connection.execute(statement, {"goal": given, "now": now}))


_RELEASES = {
    "journey_id": "text",
    "customer_id": "text",
    "node_key": "text",
    "event_at": "timestamptz",
    "target": "text",
    "due_at": "timestamptz",
    "state": "text",
    "step_index": "int",
}
_RELEASED = (
    "enrollments.journey_id = waited.journey_id "
    "AND enrollments.customer_id = waited.customer_id "
    f"AND enrollments.state = {_INSIDE} "
    "AND enrollments.node_key = waited.node_key "
    "AND enrollments.reached_at < waited.event_at "
    "AND enrollments.due_at >= waited.event_at"
)


def release(connection: Connection, releases: Sequence[Release], now: datetime) -> list[Any]:
    """Move on the customers these releases find waiting at their node; (journey_id,
    customer_id, node_key) of each one released, `node_key` the node it left.

    PostgreSQL: one UPDATE ... RETURNING the node left. SQLite cannot return a column
    of the FROM item, so the rows it will move are read first, in the same transaction
    (SQLite has one writer at a time: nothing moves them in between)."""
    if not releases:
        return []
    given = json.dumps(
        [
            {
                "journey_id": r.journey_id,
                "customer_id": r.customer_id,
                "node_key": r.node_key,
                "event_at": _moment(connection, r.event_at),
                "target": r.target,
                "due_at": _moment(connection, r.due_at),
                "state": (
                    EnrollmentState.INSIDE if r.target is not None else EnrollmentState.COMPLETED
                ).value,
                "step_index": r.step_index,
            }
            for r in sorted(releases, key=lambda r: (r.journey_id, r.customer_id, r.node_key))
        ]
    )
    waited = _rows(connection, "waited", _RELEASES)
    values = {"waited": given, "now": now}
    found: list[Any] = []
    if connection.dialect.name != "postgresql":
        found = list(
            connection.execute(
                text(
                    "SELECT DISTINCT enrollments.journey_id, enrollments.customer_id, "
                    f"enrollments.node_key FROM enrollments JOIN {waited} ON {_RELEASED}"
                ),
                {"waited": given},
            )
        )
    returning = (
        " RETURNING enrollments.journey_id, enrollments.customer_id, waited.node_key"
        if connection.dialect.name == "postgresql"
        else ""
    )
    statement = text(
        "UPDATE enrollments SET node_key = COALESCE(waited.target, waited.node_key), "
        "reached_at = :now, due_at = waited.due_at, state = waited.state, "
        f"step_index = waited.step_index, updated_at = :now FROM {waited} "
        f"WHERE {_RELEASED}{returning}"
    ).bindparams(bindparam("now", type_=_MOMENT))
    moved = connection.execute(statement, values)
    return list(moved) if returning else found
