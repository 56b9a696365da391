"""customers.py's peers on raw psycopg, writing into a schema of their own of the project's
shape, `bench_peer`, which the bare peer's `/events` and the floor's `trackEvents` fill too.
It imports nothing of the project."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

PREDICATE = "substr(attributes->>'birthday', 6, 2) = '05' AND attributes->>'country' = 'VN'"
SCHEMA = [
    "DROP SCHEMA IF EXISTS bench_peer CASCADE",
    "CREATE SCHEMA bench_peer",
    "CREATE TABLE bench_peer.customers (workspace_id VARCHAR(64) NOT NULL, id VARCHAR(200) "
    "NOT NULL, attributes JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL, updated_at "
    "TIMESTAMPTZ NOT NULL, PRIMARY KEY (workspace_id, id))",
    "CREATE TABLE bench_peer.enrollments (id SERIAL PRIMARY KEY, journey_id VARCHAR(36) NOT "
    "NULL REFERENCES public.journeys (id), customer_id VARCHAR(200) NOT NULL, step_index "
    "INTEGER NOT NULL, state VARCHAR(16) NOT NULL, due_at TIMESTAMPTZ, entered_at TIMESTAMPTZ "
    "NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
    "CREATE UNIQUE INDEX ON bench_peer.enrollments (journey_id, customer_id) "
    "WHERE state = 'INSIDE'",
    "CREATE INDEX ON bench_peer.enrollments (journey_id, state, step_index)",
    "CREATE TABLE bench_peer.customer_events (id BIGSERIAL PRIMARY KEY, workspace_id "
    "VARCHAR(64) NOT NULL, customer_id VARCHAR(200) NOT NULL, name VARCHAR(200) NOT NULL, "
    "properties JSONB NOT NULL, at TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX ON bench_peer.customer_events (workspace_id, customer_id, name, at)",
]


def fresh_schema(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in SCHEMA:
            connection.execute(statement)


def copy_import(url: str, path: Path, workspace: str, schema: str = "bench_peer") -> float:
    """Seconds to COPY the NDJSON file into a staging table and merge it, committed."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        connection.execute("CREATE TEMP TABLE staging (doc JSONB NOT NULL) ON COMMIT DROP")
        # CSV with a quote and a delimiter that never occur: each line is one jsonb value.
        copy_sql = "COPY staging (doc) FROM STDIN (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
        with path.open("rb") as source, connection.cursor().copy(copy_sql) as copy:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        connection.execute(
            f"INSERT INTO {schema}.customers (workspace_id, id, attributes, created_at, "
            "updated_at) SELECT %s, doc->>'id', doc->'attributes', %s, %s FROM staging "
            "ON CONFLICT (workspace_id, id) DO UPDATE SET attributes = "
            "customers.attributes || excluded.attributes, updated_at = excluded.updated_at",
            (workspace, now, now),
        )
        connection.commit()
        return time.perf_counter() - started


def count(connection: psycopg.Connection[tuple[int]], workspace: str) -> tuple[int, float]:
    """(the project's customers under the condition, seconds it took)."""
    started = time.perf_counter()
    row = connection.execute(
        f"SELECT count(*) FROM customers WHERE workspace_id = %s AND {PREDICATE}", (workspace,)
    ).fetchone()
    return (row[0] if row else 0), time.perf_counter() - started


def insert_enrollments(url: str, journey_id: str, workspace: str) -> tuple[int, float]:
    """(rows, seconds) of entering every matching customer, one INSERT ... SELECT, committed."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        cursor = connection.execute(
            "INSERT INTO bench_peer.enrollments (journey_id, customer_id, step_index, state, "
            "due_at, entered_at, updated_at) SELECT %s, id, 0, 'INSIDE', %s, %s, %s "
            f"FROM customers WHERE workspace_id = %s AND {PREDICATE}",
            (journey_id, now, now, now, workspace),
        )
        connection.commit()
        return cursor.rowcount, time.perf_counter() - started
