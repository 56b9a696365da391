"""Reading journeys: one statement gives the journey, its latest version and its labels;
another reads one version by its number.

The repository (which locks what it reads) and the read side share them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, Select, bindparam, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from domain.journey import Journey, Version
from store.compiled import Statement
from store.mapping import journey_from_row, version_from_row
from store.tables import JOURNEYS, LABELS, VERSIONS


class json_list(FunctionElement[Any]):
    """The values of one column over a group, as a JSON array (NULL or [] when empty)."""

    type = JSON()
    inherit_cache = True


@compiles(json_list, "sqlite")
def _json_list_sqlite(element: json_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(json_list, "postgresql")
def _json_list_postgresql(element: json_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"


_LABELS = (
    select(json_list(LABELS.c.label))
    .where(LABELS.c.journey_id == JOURNEYS.c.id)
    .scalar_subquery()
    .label("labels")
)

# Every column a `Version` is built from (`store.mapping.version_from_row`),
# named so that they do not clash with a journey's.
VERSION_COLUMNS = (
    VERSIONS.c.journey_id.label("version_of"),
    VERSIONS.c.number,
    VERSIONS.c.nodes,
    VERSIONS.c.start_at.label("version_start_at"),
    VERSIONS.c.end_at.label("version_end_at"),
    VERSIONS.c.trigger_event.label("version_trigger_event"),
    VERSIONS.c.audience_list,
    VERSIONS.c.audience_size,
    VERSIONS.c.send_delay_seconds.label("version_send_delay_seconds"),
    VERSIONS.c.audience_condition,
    VERSIONS.c.trigger_where,
    VERSIONS.c.goal_event,
    VERSIONS.c.goal_where,
    VERSIONS.c.reentry,
    VERSIONS.c.created_at.label("version_created_at"),
    VERSIONS.c.created_by,
)

# Every column a `Journey` is built from: its own, its latest version's, its labels.
JOURNEY_COLUMNS = (*JOURNEYS.c, *VERSION_COLUMNS, _LABELS)


def journeys_where(*conditions: ColumnElement[bool]) -> Select[Any]:
    """Journeys, with their latest version and labels, that meet `conditions`."""
    return (
        select(*JOURNEY_COLUMNS)
        .join_from(
            JOURNEYS,
            VERSIONS,
            (VERSIONS.c.journey_id == JOURNEYS.c.id)
            & (VERSIONS.c.number == JOURNEYS.c.latest_version),
        )
        .where(*conditions)
    )


def read_journeys(
    connection: Connection, statement: Statement, values: dict[str, Any]
) -> list[tuple[int, Journey]]:
    """Run a `journeys_where()` statement: (page position, journey) pairs, in its order."""
    return [(row.pk, journey_from_row(row)) for row in statement.rows(connection, values)]


_VERSION = Statement(
    select(*VERSION_COLUMNS).where(
        VERSIONS.c.journey_id == bindparam("journey_id"), VERSIONS.c.number == bindparam("number")
    )
)


def read_version(connection: Connection, journey_id: str, number: int) -> Version | None:
    """Version `number` of the journey (one row), or None when it has no such version."""
    row = _VERSION.first(connection, {"journey_id": journey_id, "number": number})
    return version_from_row(row) if row else None
