"""A customer's bucket at a SPLIT node (`domain.flow_walk.split_bucket`) as SQL, so that
the step processor sends each branch its customers with one statement.

PostgreSQL computes it from its own `md5`; SQLite has none, so every connection the
store opens registers the domain's function under the same name (`register_on_sqlite`),
and the SQL calls it. tests/store/test_split_sql.py holds the SQL to the Python reading on
both databases.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import ColumnElement, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from domain.flow_walk import BUCKETS
from domain.flow_walk import split_bucket as python_split_bucket


class split_bucket(FunctionElement[int]):  # named like the SQL it stands for
    """The bucket, 0 to 99, of (journey id, customer id, node key): three SQL text values."""

    type = Integer()
    inherit_cache = True

    def __init__(
        self,
        journey_id: ColumnElement[Any],
        customer_id: ColumnElement[Any],
        node_key: ColumnElement[Any],
    ) -> None:
        super().__init__(journey_id, customer_id, node_key)


@compiles(split_bucket, "postgresql")
def _split_bucket_postgresql(element: split_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    journey_id, customer_id, node_key = (compiler.process(c, **kw) for c in element.clauses)
    text = f"{journey_id} || ':' || {customer_id} || ':' || {node_key}"
    # The first 8 hex digits of the md5, read as an unsigned 32-bit number (mod(), not
    # the % operator, which the driver's parameter style would read as a placeholder).
    return f"mod(('x' || substr(md5({text}), 1, 8))::bit(32)::bigint, {BUCKETS})"


@compiles(split_bucket, "sqlite")
def _split_bucket_sqlite(element: split_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    return f"split_bucket({compiler.process(element.clauses, **kw)})"


def register_on_sqlite(connection: sqlite3.Connection) -> None:
    """Give a SQLite connection the `split_bucket(journey_id, customer_id, node_key)`
    function the SQL above calls."""
    connection.create_function("split_bucket", 3, python_split_bucket, deterministic=True)
