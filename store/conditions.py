"""Conditions run on a set of profiles: domain.condition_sql's expression, bound.

The expression's text depends only on the condition's shape; its values,
attribute names included, are bound parameters. A moment (an event
condition's `since`) is bound through the column type the events table
stores it with, so it compares the same way on both databases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, TextClause, bindparam, text

from domain.condition_sql import Columns, Sql, compile_condition
from domain.conditions import Condition
from store.columns import UTCDateTime

PROFILES = Columns(attributes="customers.attributes")


def bound(sql: Sql, statement: str) -> TextClause:
    """`statement` (holding the expression's placeholders) with its values bound."""
    clause = text(statement)
    moments = [
        bindparam(name, value, type_=UTCDateTime())
        for name, value in sql.params.items()
        if isinstance(value, datetime)
    ]
    others = {name: value for name, value in sql.params.items() if not isinstance(value, datetime)}
    return clause.bindparams(*moments, **others)


def _matching(connection: Connection, condition: Condition, now: datetime) -> Sql:
    return compile_condition(condition, connection.dialect.name, now, PROFILES)


def count_matching(
    connection: Connection, workspace_id: str, condition: Condition, now: datetime
) -> int:
    """How many profiles of the workspace meet the condition at `now`."""
    sql = _matching(connection, condition, now)
    statement = bound(
        sql,
        f"SELECT count(*) FROM customers WHERE customers.workspace_id = :workspace AND {sql.text}",
    )
    return int(connection.execute(statement, {"workspace": workspace_id}).scalar_one())


def matching_ids(
    connection: Connection, workspace_id: str, condition: Condition, now: datetime
) -> list[str]:
    """The ids of the profiles that meet the condition at `now`, in id order."""
    sql = _matching(connection, condition, now)
    statement = bound(
        sql,
        f"SELECT customers.id FROM customers WHERE customers.workspace_id = :workspace "
        f"AND {sql.text} ORDER BY customers.id",
    )
    return list(connection.execute(statement, {"workspace": workspace_id}).scalars())
