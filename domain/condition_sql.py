"""The second reading of a condition: SQL for a whole set of customers.

`compile_condition` writes a condition as a boolean SQL expression over a
profile's attributes column (PostgreSQL `jsonb`, SQLite JSON text read with
`json_extract`), for one dialect, with every value a bound parameter:
attribute names, too, are checked by `domain.condition_json` and then bound, so
no text of a condition is ever part of the statement. The rules are those
of `domain.condition_match.matches`, which tests/domain hold equal on random
customers and conditions on both databases.

Each leaf is a CASE that first checks the attribute's JSON type, so a
value of another type is FALSE, never NULL (NOT of NULL would be NULL, not
TRUE) and never cast: a cast runs only on a value known to fit it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.condition_match import event_since, kind_of
from domain.conditions import (
    DATE_OPS,
    NUMBER_OPS,
    AllOf,
    AnyOf,
    AttributeCondition,
    Condition,
    ConditionOp,
    EventCondition,
    Not,
)

POSTGRESQL = "postgresql"
SQLITE = "sqlite"
_COMPARISONS = {
    ConditionOp.GREATER_THAN: ">",
    ConditionOp.AT_LEAST: ">=",
    ConditionOp.LESS_THAN: "<",
    ConditionOp.AT_MOST: "<=",
}
assert set(_COMPARISONS) == set(NUMBER_OPS)


@dataclass(frozen=True)
class Sql:
    """A SQL expression and its bound values (`:name` placeholders)."""

    text: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Columns:
    """What the expression reads: the attributes (or properties) column, and for event
    conditions the customer it is about (workspace and id columns)."""

    attributes: str
    workspace: str = "customers.workspace_id"
    customer: str = "customers.id"


@dataclass
class _Writer:
    dialect: str
    now: datetime
    prefix: str
    params: dict[str, Any] = field(default_factory=dict)
    aliases: int = 0

    def bind(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    @property
    def false(self) -> str:
        return "FALSE" if self.dialect == POSTGRESQL else "0"

    # -- a JSON object's key ----------------------------------------------------------

    def json_type(self, source: str, key: str) -> str:
        if self.dialect == POSTGRESQL:
            return f"jsonb_typeof({source} -> CAST({key} AS TEXT))"
        return f"json_type({source}, {key})"

    def is_kind(self, source: str, key: str, kind: str) -> str:
        typed = self.json_type(source, key)
        if self.dialect == POSTGRESQL:
            return f"{typed} = '{kind}'"
        sqlite_types = {
            "number": "('integer', 'real')",
            "string": "('text')",
            "boolean": "('true', 'false')",
        }[kind]
        return f"{typed} IN {sqlite_types}"

    def text(self, source: str, key: str) -> str:
        """The key's value as text (a string's own text; 'true' or 'false' on PostgreSQL)."""
        if self.dialect == POSTGRESQL:
            return f"({source} ->> CAST({key} AS TEXT))"
        return f"json_extract({source}, {key})"

    def number(self, source: str, key: str) -> str:
        if self.dialect == POSTGRESQL:
            return f"CAST({source} ->> CAST({key} AS TEXT) AS DOUBLE PRECISION)"
        return f"CAST(json_extract({source}, {key}) AS REAL)"

    def is_true(self, source: str, key: str) -> str:
        if self.dialect == POSTGRESQL:
            return f"({source} ->> CAST({key} AS TEXT)) = 'true'"
        return f"json_type({source}, {key}) = 'true'"

    def key(self, name: str) -> str:
        return self.bind(name if self.dialect == POSTGRESQL else f"$.{name}")

    def guarded(self, check: str, then: str) -> str:
        return f"(CASE WHEN {check} THEN {then} ELSE {self.false} END)"

    def c(self, text: str) -> str:
        """Text compared byte by byte (PostgreSQL's default collation may not be)."""
        return f'{text} COLLATE "C"' if self.dialect == POSTGRESQL else text

    def list_of(self, values: list[Any], sql_type: str) -> str:
        if self.dialect == POSTGRESQL:
            return f"(SELECT unnest(CAST({self.bind(values)} AS {sql_type}[])))"
        return f"(SELECT value FROM json_each({self.bind(json.dumps(values))}))"


def compile_condition(
    condition: Condition, dialect: str, now: datetime, columns: Columns, prefix: str = "cond_"
) -> Sql:
    """The condition as a boolean SQL expression for `dialect` at `now`."""
    writer = _Writer(dialect, now, prefix)
    return Sql(_condition(writer, condition, columns), writer.params)


def compile_where(
    where: tuple[AttributeCondition, ...],
    dialect: str,
    now: datetime,
    properties: str,
    prefix: str = "where_",
) -> Sql:
    """Every attribute condition of a `where` over an event's properties column."""
    writer = _Writer(dialect, now, prefix)
    return Sql(_where(writer, where, properties), writer.params)


def _where(writer: _Writer, where: tuple[AttributeCondition, ...], source: str) -> str:
    if not where:
        return "TRUE" if writer.dialect == POSTGRESQL else "1"
    return "(" + " AND ".join(_attribute(writer, item, source) for item in where) + ")"


def _condition(writer: _Writer, condition: Condition, columns: Columns) -> str:
    if isinstance(condition, AllOf | AnyOf):
        joiner = " AND " if isinstance(condition, AllOf) else " OR "
        return "(" + joiner.join(_condition(writer, p, columns) for p in condition.parts) + ")"
    if isinstance(condition, Not):
        return f"(NOT {_condition(writer, condition.part, columns)})"
    if isinstance(condition, EventCondition):
        return _event(writer, condition, columns)
    return _attribute(writer, condition, columns.attributes)


def _event(writer: _Writer, condition: EventCondition, columns: Columns) -> str:
    writer.aliases += 1
    alias = f"ev{writer.aliases}"
    filters = [
        f"{alias}.workspace_id = {columns.workspace}",
        f"{alias}.customer_id = {columns.customer}",
        f"{alias}.name = {writer.bind(condition.name)}",
    ]
    since = event_since(condition, writer.now)
    if since is not None:
        filters.append(f"{alias}.at >= {writer.bind(since)}")
    if condition.where:
        filters.append(_where(writer, condition.where, f"{alias}.properties"))
    found = f"FROM customer_events {alias} WHERE {' AND '.join(filters)}"
    if condition.at_least == 1:
        return f"(EXISTS (SELECT 1 {found}))"
    return f"((SELECT count(*) {found}) >= {writer.bind(condition.at_least)})"


def _attribute(writer: _Writer, condition: AttributeCondition, source: str) -> str:
    op, value = condition.op, condition.value
    key = writer.key(condition.name)
    if op is ConditionOp.EXISTS:
        return f"({writer.json_type(source, key)} IS NOT NULL)"
    if op is ConditionOp.NOT_EXISTS:
        return f"({writer.json_type(source, key)} IS NULL)"
    if op is ConditionOp.EQUALS and writer.dialect == POSTGRESQL and kind_of(value) != "number":
        # jsonb's own equality is strict about types, as the rules are (a number is
        # compared as a float instead, below): one look-up, no cast. A missing key is NULL,
        # which must read FALSE (NOT NULL would be NULL, not TRUE).
        wanted = writer.bind(json.dumps(value))
        return f"COALESCE(({source} -> CAST({key} AS TEXT)) = CAST({wanted} AS jsonb), FALSE)"
    if op in (ConditionOp.EQUALS, ConditionOp.NOT_EQUALS):
        equal = _equal(writer, source, key, value)
        kind = kind_of(value)
        assert kind is not None
        if op is ConditionOp.EQUALS:
            return writer.guarded(writer.is_kind(source, key, kind), equal)
        return writer.guarded(writer.is_kind(source, key, kind), f"NOT {equal}")
    if op is ConditionOp.IN:
        return "(" + " OR ".join(_in(writer, source, key, list(value))) + ")"
    if op in NUMBER_OPS:
        compared = f"{writer.number(source, key)} {_COMPARISONS[op]} {writer.bind(float(value))}"
        return writer.guarded(writer.is_kind(source, key, "number"), compared)
    text = writer.text(source, key)
    if op is ConditionOp.CONTAINS:
        found = "strpos" if writer.dialect == POSTGRESQL else "instr"
        return writer.guarded(
            writer.is_kind(source, key, "string"), f"{found}({text}, {writer.bind(value)}) > 0"
        )
    if op is ConditionOp.STARTS_WITH:
        wanted = writer.bind(value)
        return writer.guarded(
            writer.is_kind(source, key, "string"),
            f"substr({text}, 1, length({wanted})) = {wanted}",
        )
    assert op in DATE_OPS
    # The op's own test first: it reads two or ten characters, and most values fail
    # it, so the shape and the calendar are checked only on the few that pass.
    return writer.guarded(
        writer.is_kind(source, key, "string"),
        writer.guarded(
            _date_test(writer, op, value, text),
            f"({_date_shaped(writer, text)} AND {_valid_date(writer, text)})",
        ),
    )


def _equal(writer: _Writer, source: str, key: str, value: Any) -> str:
    kind = kind_of(value)
    if kind == "number":
        return f"({writer.number(source, key)} = {writer.bind(float(value))})"
    if kind == "boolean":
        truth = writer.is_true(source, key)
        return f"({truth})" if value else f"(NOT {truth})"
    return f"({writer.text(source, key)} = {writer.bind(value)})"


def _in(writer: _Writer, source: str, key: str, values: list[Any]) -> list[str]:
    """IN as one test per type present in the list, each a set membership."""
    parts = []
    numbers = [float(v) for v in values if kind_of(v) == "number"]
    texts = [v for v in values if kind_of(v) == "string"]
    truths = {v for v in values if kind_of(v) == "boolean"}
    if numbers:
        listed = writer.list_of(numbers, "DOUBLE PRECISION")
        parts.append(
            writer.guarded(
                writer.is_kind(source, key, "number"), f"{writer.number(source, key)} IN {listed}"
            )
        )
    if texts:
        listed = writer.list_of(texts, "TEXT")
        parts.append(
            writer.guarded(
                writer.is_kind(source, key, "string"), f"{writer.text(source, key)} IN {listed}"
            )
        )
    if truths == {True, False}:
        parts.append(f"({writer.is_kind(source, key, 'boolean')})")
    elif truths:
        [truth] = truths
        test = writer.is_true(source, key)
        parts.append(
            writer.guarded(writer.is_kind(source, key, "boolean"), test if truth else f"NOT {test}")
        )
    return parts


def _date_shaped(writer: _Writer, text: str) -> str:
    """The text begins with ten characters shaped like YYYY-MM-DD, alone or before a T."""
    if writer.dialect == POSTGRESQL:
        return f"{text} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(T|$)'"
    shape = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    return f"({text} GLOB '{shape}' OR {text} GLOB '{shape}T*')"


def _valid_date(writer: _Writer, text: str) -> str:
    """Those ten characters are a calendar date (year 1 or later; February 29 in a
    leap year): compared as text, a number cast only in February."""
    year, month, day = (
        writer.c(f"substr({text}, {at}, {n})") for at, n in ((1, 4), (6, 2), (9, 2))
    )
    number = f"CAST(substr({text}, 1, 4) AS INTEGER)"
    leap = f"(({number} % 4 = 0 AND {number} % 100 <> 0) OR {number} % 400 = 0)"
    last_day = (
        f"(CASE WHEN {month} = '02' THEN (CASE WHEN {leap} THEN '29' ELSE '28' END)"
        f" WHEN {month} IN ('04', '06', '09', '11') THEN '30' ELSE '31' END)"
    )
    return (
        f"({year} <> '0000' AND {month} BETWEEN '01' AND '12'"
        f" AND {day} BETWEEN '01' AND {last_day})"
    )


def _date_test(writer: _Writer, op: ConditionOp, value: Any, text: str) -> str:
    day = writer.c(f"substr({text}, 1, 10)")
    if op is ConditionOp.BEFORE:
        return f"{day} < {writer.bind(value)}"
    if op is ConditionOp.AFTER:
        return f"{day} > {writer.bind(value)}"
    if op is ConditionOp.WITHIN_LAST_DAYS:
        today = writer.now.date()
        earliest = (today - timedelta(days=value)).isoformat()
        return f"{day} BETWEEN {writer.bind(earliest)} AND {writer.bind(today.isoformat())}"
    if op is ConditionOp.MONTH_IS:
        return f"{writer.c(f'substr({text}, 6, 2)')} = {writer.bind(f'{value:02d}')}"
    return f"{writer.c(f'substr({text}, 9, 2)')} = {writer.bind(f'{value:02d}')}"
