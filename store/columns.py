"""Column types shared by the tables, a row model's Core table (`table_of`), and values
for columns: made by the database (`random_id`), or a state written into a statement's
text (`written`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ColumnElement, DateTime, String, Table, Uuid, literal_column
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

# A JSON object the database can look into: `jsonb` on PostgreSQL (conditions read
# its keys with `->` and `->>`), JSON text on SQLite (read with `json_extract`).
JSONObject = JSON().with_variant(JSONB(), "postgresql")


def table_of(model: type[SQLModel]) -> Table:
    """A row model's Core table, which the store's statements are written against."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back an aware datetime, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetimes are never stored")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            # SQLite keeps the text SQLAlchemy wrote ("2026-12-01 09:00:00.000000",
            # UTC): parsed directly, several times faster than the generic
            # DATETIME parser and then this type's hook.
            return _utc_from_sqlite_text
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_from_sqlite_text(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


class random_id(FunctionElement[uuid.UUID]):  # named like the SQL it stands for
    """A random id made by the database, as a `Uuid` column stores it: one per row of a
    set-based INSERT ... SELECT, with no round trip for it. PostgreSQL's
    `gen_random_uuid()` (built in since 13; 122 random bits); on SQLite, which stores a
    `Uuid` as 32 lowercase hex digits, 16 random bytes in that form."""

    type = Uuid()
    inherit_cache = True


@compiles(random_id, "postgresql")
def _random_id_postgresql(element: random_id, compiler: SQLCompiler, **kw: Any) -> str:
    return "gen_random_uuid()"


@compiles(random_id, "sqlite")
def _random_id_sqlite(element: random_id, compiler: SQLCompiler, **kw: Any) -> str:
    return "lower(hex(randomblob(16)))"


def written(state: StrEnum) -> ColumnElement[Any]:
    """A state written into the statement's text, not bound: a partial index (`WHERE
    state = 'INSIDE'`) serves a query only when the planner can see the same condition,
    and a prepared statement's generic plan, which PostgreSQL takes after five runs,
    cannot see a bound value (it sorted a journey's whole backlog for every batch)."""
    return literal_column(f"'{state.value}'", String)


class seconds_after(FunctionElement[datetime]):  # named like what it computes
    """A moment column `seconds` (a bound integer) later, compared and stored as the
    column is: PostgreSQL's interval arithmetic; on SQLite, whose datetimes are the text
    SQLAlchemy wrote ("2026-12-01 09:00:00.000000"), `strftime` of its seconds with the
    fraction kept."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, moment: ColumnElement[Any], seconds: ColumnElement[Any]) -> None:
        super().__init__(moment, seconds)


@compiles(seconds_after, "postgresql")
def _seconds_after_postgresql(element: seconds_after, compiler: SQLCompiler, **kw: Any) -> str:
    moment, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"({moment} + make_interval(secs => {seconds}))"


@compiles(seconds_after, "sqlite")
def _seconds_after_sqlite(element: seconds_after, compiler: SQLCompiler, **kw: Any) -> str:
    moment, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"(strftime('%Y-%m-%d %H:%M:%S', {moment}, '+' || {seconds} || ' seconds') "
        f"|| substr({moment}, 20))"
    )
