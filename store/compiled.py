"""Compiled statements: written with SQLAlchemy Core, run on the driver's own cursor.

A statement on the hot path (a transition runs five) is compiled once per
dialect into the driver's SQL, with the bind and result processors of its
column types (UTC datetimes, JSON). Running it then costs what the driver
costs plus those conversions: no per-execution compile-cache lookup,
execution context or result object, which was most of SQLAlchemy's share of
a transition. The connection stays SQLAlchemy's, and so does its
transaction.

A statement with an expanding IN list (its SQL depends on the list's length)
runs through SQLAlchemy as usual: those are the batch statements, whose cost
is per batch, not per row.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import ReturnsRows


@dataclass(frozen=True)
class _Form:
    """A statement as one dialect's driver runs it."""

    sql: str
    positions: tuple[str, ...] | None  # bind names in order, for positional drivers
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # names that need converting
    fixed: tuple[tuple[str, Any], ...]  # values written into the statement (literals, OFFSET 0)
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # result columns that need converting
    record: Callable[[Sequence[Any]], Any] | None  # a named tuple class's _make
    through_sqlalchemy: bool  # expanding parameters: SQLAlchemy renders each execution


class Statement:
    """A Core statement, compiled once per dialect, run on the DBAPI cursor."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # By the dialect's id, checked against a weak reference to the dialect: once
        # a dialect is freed its id may be given to another one (a SQLite dialect
        # after a PostgreSQL one, in a test run), which must not get its SQL.
        self._forms: dict[int, tuple[weakref.ref[Dialect], _Form]] = {}

    def rows(self, connection: Connection, values: Mapping[str, Any] | None = None) -> list[Any]:
        """Run it and return every row, a named tuple (`row.status`)."""
        form = self._form(connection.dialect)
        if form.through_sqlalchemy:
            return list(connection.execute(self.statement, values))
        cursor = self._run(connection, form, values or {})
        try:
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        record = form.record
        assert record is not None, "rows() of a statement that returns none"
        if not form.results:
            return [record(raw) for raw in fetched]
        found = []
        for raw in fetched:
            converted = list(raw)
            for index, process in form.results:
                converted[index] = process(converted[index])
            found.append(record(converted))
        return found

    def first(self, connection: Connection, values: Mapping[str, Any] | None = None) -> Any:
        found = self.rows(connection, values)
        return found[0] if found else None

    def scalar(self, connection: Connection, values: Mapping[str, Any] | None = None) -> Any:
        row = self.first(connection, values)
        return row[0] if row is not None else None

    def execute(self, connection: Connection, values: Mapping[str, Any] | None = None) -> int:
        """Run it for its effect; returns how many rows it changed."""
        form = self._form(connection.dialect)
        if form.through_sqlalchemy:
            return int(connection.execute(self.statement, values).rowcount)
        cursor = self._run(connection, form, values or {})
        changed = int(cursor.rowcount)
        cursor.close()
        return changed

    def execute_many(self, connection: Connection, values: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per set of values, as one batch of the driver (insertmanyvalues:
        SQLAlchemy writes a multi-row statement where the database takes one)."""
        connection.execute(self.statement, list(values))

    def execute_each(self, connection: Connection, values: Sequence[Mapping[str, Any]]) -> int:
        """Run it once per set of values in one call of the driver (`executemany`: one
        prepared statement, on PostgreSQL one pipeline), its text the same whatever the
        number; returns how many rows it changed in all."""
        form = self._form(connection.dialect)
        if form.through_sqlalchemy:
            return int(connection.execute(self.statement, list(values)).rowcount)
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(form.sql, [self._parameters(form, each) for each in values])
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def rows_many(self, connection: Connection, values: Sequence[Mapping[str, Any]]) -> list[Any]:
        """An INSERT ... RETURNING for many sets of values, as one batch of the driver;
        the rows it returns (those a conflict did not skip)."""
        return list(connection.execute(self.statement, list(values)))

    def _run(self, connection: Connection, form: _Form, values: Mapping[str, Any]) -> Any:
        cursor = connection.connection.cursor()
        cursor.execute(form.sql, self._parameters(form, values))
        return cursor

    @staticmethod
    def _parameters(form: _Form, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: the statement's fixed values and `values`, converted by
        their types, in the driver's order (positional) or by name."""
        converted = {**dict(form.fixed), **values}
        for name, process in form.binds:
            if name in converted:
                converted[name] = process(converted[name])
        if form.positions is not None:
            return tuple(converted.get(name) for name in form.positions)
        return converted

    def _form(self, dialect: Dialect) -> _Form:
        found = self._forms.get(id(dialect))
        if found is not None and found[0]() is dialect:
            return found[1]
        form = _compile(self.statement, dialect)
        self._forms[id(dialect)] = (weakref.ref(dialect), form)
        return form


def _compile(statement: Executable, dialect: Dialect) -> _Form:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    assert isinstance(compiled, SQLCompiler)
    if compiled.post_compile_params:
        return _Form("", None, (), (), (), None, through_sqlalchemy=True)
    binds = []
    fixed = []
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds.append((name, process))
        if not bind.required:
            fixed.append((name, bind.effective_value))
    results = []
    record = None
    if isinstance(statement, ReturnsRows):
        columns = list(statement.exported_columns)
        for index, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
        # A named tuple per statement: its fields are read by name, at C speed
        # (an unnamed column, such as count(*), is read by position).
        fields = [str(column.key) for column in columns]
        record = namedtuple("Record", fields, rename=True)._make  # type: ignore[attr-defined]
    positions = compiled.positiontup if compiled.positional else None
    return _Form(
        sql=compiled.string,
        positions=tuple(positions) if positions is not None else None,
        binds=tuple(binds),
        fixed=tuple(fixed),
        results=tuple(results),
        record=record,
        through_sqlalchemy=False,
    )
