"""customers.py's and flow.py's peers on raw psycopg, in a schema of their own, `bench_peer`."""

import time
from datetime import UTC, datetime

import psycopg

SCHEMA = """DROP SCHEMA IF EXISTS bench_peer CASCADE; CREATE SCHEMA bench_peer;
CREATE TABLE bench_peer.customers (workspace_id VARCHAR(64) NOT NULL, id VARCHAR(200) NOT NULL,
  attributes JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (workspace_id, id));
CREATE TABLE bench_peer.enrollments (id SERIAL PRIMARY KEY, journey_id VARCHAR(36) NOT NULL
  REFERENCES public.journeys (id), customer_id VARCHAR(200) NOT NULL, step_index INTEGER NOT NULL,
  state VARCHAR(16) NOT NULL, due_at TIMESTAMPTZ, entered_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL);
CREATE UNIQUE INDEX ON bench_peer.enrollments (journey_id, customer_id) WHERE state = 'INSIDE';
CREATE INDEX ON bench_peer.enrollments (journey_id, state, step_index);
CREATE TABLE bench_peer.admissions (journey_id VARCHAR(36), customer_id VARCHAR(200),
  state VARCHAR(16), entered_at TIMESTAMP, UNIQUE (journey_id, customer_id));
CREATE TABLE bench_peer.due (id INTEGER PRIMARY KEY, customer_id VARCHAR(200), step_index INTEGER,
  state VARCHAR(16), due_at TIMESTAMP);
CREATE INDEX ON bench_peer.due (due_at) WHERE state = 'INSIDE';
CREATE TABLE bench_peer.deliveries (enrollment_id INTEGER, step_index INTEGER,
  customer_id VARCHAR(200), state VARCHAR(16), UNIQUE (enrollment_id, step_index));
CREATE TABLE bench_peer.customer_events (id BIGSERIAL PRIMARY KEY,
  workspace_id VARCHAR(64) NOT NULL, customer_id VARCHAR(200) NOT NULL, name VARCHAR(200) NOT NULL,
  properties JSONB NOT NULL, at TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL);
CREATE INDEX ON bench_peer.customer_events (workspace_id, customer_id, name, at);
CREATE TABLE bench_peer.list (customer_id VARCHAR(200), name TEXT, birthday TEXT)"""
WORKSPACE = "bench"  # the harness's
MATCHING = """FROM customers WHERE workspace_id = %s
  AND substr(attributes->>'birthday', 6, 2) = '05' AND attributes->>'country' = 'VN'"""
# CSV with a quote and a delimiter that never occur: each line is one jsonb value.
COPY_NDJSON = "COPY staging (doc) FROM STDIN (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
ENROL = f"""INSERT INTO bench_peer.enrollments (journey_id, customer_id, step_index, state, due_at,
  entered_at, updated_at) SELECT %s, id, 0, 'INSIDE', %s, %s, %s {MATCHING}"""
MERGE = """INSERT INTO bench_peer.customers (workspace_id, id, attributes, created_at, updated_at)
  SELECT %s, doc->>'id', doc->'attributes', %s, %s FROM staging ON CONFLICT (workspace_id, id)
  DO UPDATE SET attributes = customers.attributes || excluded.attributes,
  updated_at = excluded.updated_at"""
DUE = """SELECT id, customer_id FROM bench_peer.due WHERE state = 'INSIDE'
  AND due_at <= '2026-12-02' ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED"""
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def fresh_schema(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection, the schema made afresh."""
    connection = psycopg.connect(url, autocommit=True)
    connection.execute(SCHEMA)  # without parameters, psycopg sends several statements in one
    return connection


def copy_import(url: str, body: bytes) -> float:
    """Seconds to COPY the NDJSON `body` into a staging table and merge it, committed."""
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        connection.execute("CREATE TEMP TABLE staging (doc JSONB NOT NULL) ON COMMIT DROP")
        with connection.cursor().copy(COPY_NDJSON) as copy:
            copy.write(body)  # psycopg sends it in 128 KiB messages
        connection.execute(MERGE, (WORKSPACE, NOW, NOW))
        connection.commit()
        return time.perf_counter() - started


def count(connection: psycopg.Connection[tuple[int]]) -> tuple[int, float]:
    """(the project's customers under customers.py's CONDITION, seconds it took)."""
    started = time.perf_counter()
    row = connection.execute(f"SELECT count(*) {MATCHING}", (WORKSPACE,)).fetchone()
    return (row[0] if row else 0), time.perf_counter() - started


def insert_enrollments(url: str, journey_id: str) -> tuple[int, float]:
    """(rows, seconds) of entering every customer under the CONDITION, one INSERT ... SELECT."""
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        cursor = connection.execute(ENROL, (journey_id, NOW, NOW, NOW, WORKSPACE))
        connection.commit()
        return cursor.rowcount, time.perf_counter() - started


def admissions(url: str, batches: int, journeys: int) -> float:
    """Events/s admitting each event's customer into `journeys` journeys."""
    with fresh_schema(url) as db:
        started = time.perf_counter()
        values = ", ".join(["(%s, %s, 'INSIDE', '2026-12-01')"] * 500 * journeys)
        insert = f"INSERT INTO bench_peer.admissions VALUES {values} ON CONFLICT DO NOTHING"
        names = [f"journey-{j}" for j in range(journeys)]
        for batch in range(batches):
            with db.transaction():
                for chunk in range(0, 1000, 500):  # under the driver's parameter limit
                    ids = (f"v{batch}-{n}" for n in range(chunk, chunk + 500))
                    db.execute(insert, [x for c in ids for j in names for x in (j, c)])
        return batches * 1000 / (time.perf_counter() - started)


def processing(url: str, customers: int) -> float:
    """Steps/s moving `customers` due enrollments through a 1-step SEND to DELIVERED."""
    with fresh_schema(url) as db:
        db.execute("INSERT INTO bench_peer.due SELECT i, 'c' || i, 0, 'INSIDE', '2026-12-01' "
                   "FROM generate_series(1, %s) AS i", (customers,))  # fmt: skip
        started, moved = time.perf_counter(), 0
        while moved < customers:
            with db.transaction():
                due = db.execute(DUE).fetchall()
                ids = [row[0] for row in due]
                db.execute("UPDATE bench_peer.due SET step_index = 1, state = 'COMPLETED', "
                           "due_at = NULL WHERE id = ANY(%s)", (ids,))  # fmt: skip
                values = ", ".join(["(%s, 0, %s, 'QUEUED')"] * len(due))
                db.execute(f"INSERT INTO bench_peer.deliveries VALUES {values} "
                           "ON CONFLICT DO NOTHING", [v for row in due for v in row])  # fmt: skip
                db.execute("UPDATE bench_peer.deliveries SET state = 'DELIVERED' WHERE "
                           "step_index = 0 AND enrollment_id = ANY(%s)", (ids,))  # fmt: skip
            moved += len(due)
        return moved / (time.perf_counter() - started)


def copy_list(url: str, body: bytes) -> float:
    """Ids/s of loading the CSV `body` into a table, committed."""
    with fresh_schema(url) as db:
        started = time.perf_counter()
        with db.cursor().copy("COPY bench_peer.list FROM STDIN (FORMAT csv, HEADER)") as copy:
            copy.write(body)
        return (body.count(b"\n") - 1) / (time.perf_counter() - started)
