"""A whole list as one bound parameter: `column IN <list>` with a fixed statement text.

SQLAlchemy's expanding IN renders one placeholder per value, so a batch of
1,000 ids is a new, long statement text every time, which the PostgreSQL driver
parses again (it caches only short texts): the step processor's batches would
spend most of a worker's CPU there (bench/flow.py, its line of one SEND, run
under a profiler). So a statement's text never depends on how many values it is
given. `one_of(column, "name")` renders `column = ANY(%(name)s)` on PostgreSQL
(the list bound as an array) and `column IN (SELECT value FROM json_each(?))` on
SQLite (the list bound as JSON text); `json_rows` does the same for the rows of a
bulk INSERT on PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, ColumnElement, String, Text, bindparam, cast, column, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine


class ValueList(TypeDecorator[list[Any]]):
    """A Python list bound as an array (PostgreSQL) or as JSON text (SQLite)."""

    impl = String
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(self.item))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(list(value))


class one_of(FunctionElement[Any]):  # named like the SQL it stands for
    """`column` is one of the values of the list parameter `name`."""

    # Not Boolean: SQLite, which has no boolean type, would get "... = 1" appended.
    type = NullType()
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        super().__init__(column, bindparam(name, type_=ValueList(column.type)))


@compiles(one_of, "postgresql")
def _one_of_postgresql(element: one_of, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = element.clauses
    return f"{compiler.process(column, **kw)} = ANY({compiler.process(values, **kw)})"


@compiles(one_of, "sqlite")
def _one_of_sqlite(element: one_of, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = element.clauses
    return (
        f"{compiler.process(column, **kw)} IN "
        f"(SELECT value FROM json_each({compiler.process(values, **kw)}))"
    )


class overlaps(FunctionElement[Any]):  # named like the question it asks
    """The JSON list in `column` shares a value with the list parameter `name`."""

    type = NullType()
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        super().__init__(column, bindparam(name, type_=ValueList(String())))


@compiles(overlaps, "postgresql")
def _overlaps_postgresql(element: overlaps, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = element.clauses
    return f"CAST({compiler.process(column, **kw)} AS JSONB) ?| {compiler.process(values, **kw)}"


@compiles(overlaps, "sqlite")
def _overlaps_sqlite(element: overlaps, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = element.clauses
    return (
        f"EXISTS (SELECT 1 FROM json_each({compiler.process(column, **kw)}) "
        f"WHERE value IN (SELECT value FROM json_each({compiler.process(values, **kw)})))"
    )


def json_rows(alias: str, /, **columns: TypeEngine[Any]) -> Any:
    """PostgreSQL: many rows as one parameter, named `alias`, of JSON text (a list of
    objects, one key per column), to INSERT ... SELECT from:
    `json_to_recordset(CAST(:alias AS JSON)) AS alias(a type, b type)`. The statement's
    text is the same for any number of rows, as with `one_of`, where a multi-row VALUES
    has one placeholder per value, parsed again by the driver every time; and the
    rows are written by `json.dumps` and read by PostgreSQL, both in C."""
    rows = cast(bindparam(alias, type_=Text()), JSON)
    fields = [column(name, type_) for name, type_ in columns.items()]
    return (
        func.json_to_recordset(rows)
        .table_valued(*fields)
        .render_derived(name=alias, with_types=True)
    )
