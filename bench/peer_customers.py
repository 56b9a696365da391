"""The raw-psycopg peers of bench/customers.py. It imports nothing of the project: it knows
the project's tables (`customers`, `enrollments`, `customer_events`, from migrations 0003
and 0008) only as SQL, and writes in a schema of its own, `bench_peer`, made afresh with
tables of the same shape (columns, keys, indexes; the enrollments' foreign key to the
project's `journeys`).

* import: `COPY` of the NDJSON file's lines into a temporary staging table (a `jsonb` column:
  PostgreSQL parses each line), then one `INSERT ... SELECT ... ON CONFLICT (workspace_id,
  id) DO UPDATE` merging the attributes, committed. The same function loads the project's own
  `customers` table (schema `public`) when customers.py runs without its import phase.
* estimate: `SELECT count(*)` of the project's own customers under the same predicate.
* segment load: one `INSERT INTO bench_peer.enrollments ... SELECT ... FROM customers WHERE`
  the predicate, committed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

SCHEMA = "bench_peer"
CHUNK = 1 << 20
# birthday in May and country VN, as the project reads MONTH_IS and EQUALS
PREDICATE = "substr(attributes->>'birthday', 6, 2) = '05' AND attributes->>'country' = 'VN'"

_TABLES = [
    f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE",
    f"CREATE SCHEMA {SCHEMA}",
    f"CREATE TABLE {SCHEMA}.customers (workspace_id VARCHAR(64) NOT NULL, "
    "id VARCHAR(200) NOT NULL, attributes JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL, "
    "updated_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (workspace_id, id))",
    f"CREATE TABLE {SCHEMA}.enrollments (id SERIAL PRIMARY KEY, "
    "journey_id VARCHAR(36) NOT NULL REFERENCES public.journeys (id), "
    "customer_id VARCHAR(200) NOT NULL, step_index INTEGER NOT NULL, state VARCHAR(16) NOT NULL, "
    "due_at TIMESTAMPTZ, entered_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
    f"CREATE UNIQUE INDEX ON {SCHEMA}.enrollments (journey_id, customer_id) WHERE state = 'INSIDE'",
    f"CREATE INDEX ON {SCHEMA}.enrollments (due_at) WHERE state = 'INSIDE'",
    f"CREATE INDEX ON {SCHEMA}.enrollments (journey_id, state, step_index)",
    f"CREATE INDEX ON {SCHEMA}.enrollments (journey_id, due_at) WHERE state = 'INSIDE'",
    f"CREATE TABLE {SCHEMA}.customer_events (id BIGSERIAL PRIMARY KEY, "
    "workspace_id VARCHAR(64) NOT NULL, customer_id VARCHAR(200) NOT NULL, "
    "name VARCHAR(200) NOT NULL, properties JSONB NOT NULL, at TIMESTAMPTZ NOT NULL, "
    "recorded_at TIMESTAMPTZ NOT NULL)",
    f"CREATE INDEX ON {SCHEMA}.customer_events (workspace_id, customer_id, name, at)",
    f"CREATE INDEX ON {SCHEMA}.customer_events (at)",
]


def fresh_schema(url: str) -> None:
    """The peers' schema, dropped and made again, its tables empty."""
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in _TABLES:
            connection.execute(statement)


def copy_import(url: str, path: Path, workspace: str, schema: str = SCHEMA) -> float:
    """Seconds to COPY the NDJSON file at `path` into a staging table and merge it into
    `schema`.customers, committed."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        connection.execute("CREATE TEMP TABLE staging (doc JSONB NOT NULL) ON COMMIT DROP")
        # CSV with a quote and a delimiter that never occur: each line is one jsonb value.
        copy_sql = "COPY staging (doc) FROM STDIN (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
        with path.open("rb") as source, connection.cursor().copy(copy_sql) as copy:
            while chunk := source.read(CHUNK):
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


class Counting:
    """The estimate's peer: the project's customers under the predicate, on one connection."""

    def __init__(self, url: str, workspace: str) -> None:
        self._connection: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(
            url, autocommit=True
        )
        self._workspace = workspace

    def once(self) -> tuple[int, float]:
        """(the count, seconds it took)."""
        started = time.perf_counter()
        row = self._connection.execute(
            f"SELECT count(*) FROM customers WHERE workspace_id = %s AND {PREDICATE}",
            (self._workspace,),
        ).fetchone()
        seconds = time.perf_counter() - started
        return int(row[0]) if row else 0, seconds

    def close(self) -> None:
        self._connection.close()


def insert_enrollments(url: str, journey_id: str, workspace: str) -> tuple[int, float]:
    """(rows, seconds) of entering every matching customer into `journey_id`, in one
    INSERT ... SELECT, committed."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        cursor = connection.execute(
            f"INSERT INTO {SCHEMA}.enrollments (journey_id, customer_id, step_index, state, "
            "due_at, entered_at, updated_at) SELECT %s, id, 0, 'INSIDE', %s, %s, %s "
            f"FROM customers WHERE workspace_id = %s AND {PREDICATE}",
            (journey_id, now, now, now, workspace),
        )
        connection.commit()
        return cursor.rowcount, time.perf_counter() - started
