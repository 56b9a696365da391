"""The limits of audience.py on raw psycopg, in scratch tables of the project's shape (see
bench/README.md). It imports nothing of the project."""

from __future__ import annotations

import time

import psycopg

SCRATCH = [
    "DROP TABLE IF EXISTS bench_admissions, bench_deliveries, bench_enrollments, bench_list",
    "CREATE TABLE bench_admissions (journey_id VARCHAR(36), customer_id VARCHAR(200), "
    "state VARCHAR(16), entered_at TIMESTAMP, UNIQUE (journey_id, customer_id))",
    "CREATE TABLE bench_enrollments (id INTEGER PRIMARY KEY, customer_id VARCHAR(200), "
    "step_index INTEGER, state VARCHAR(16), due_at TIMESTAMP)",
    "CREATE INDEX ON bench_enrollments (due_at) WHERE state = 'INSIDE'",
    "CREATE TABLE bench_deliveries (enrollment_id INTEGER, step_index INTEGER, "
    "customer_id VARCHAR(200), state VARCHAR(16), UNIQUE (enrollment_id, step_index))",
    "CREATE TABLE bench_list (customer_id VARCHAR(200), name TEXT, birthday TEXT)",
]


def scratch(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection, the scratch tables made afresh."""
    connection = psycopg.connect(url, autocommit=True)
    for statement in SCRATCH:
        connection.execute(statement)
    return connection


def admissions(url: str, batches: int, journeys: int) -> float:
    """Events/s admitting each event's customer into `journeys` journeys."""
    with scratch(url) as db:
        started = time.perf_counter()
        for batch in range(batches):
            with db.transaction():
                for chunk in range(0, 1000, 500):  # under the driver's parameter limit
                    rows = [
                        (f"journey-{j}", f"v{batch}-{n}", "INSIDE", "2026-12-01")
                        for n in range(chunk, chunk + 500)
                        for j in range(journeys)
                    ]
                    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
                    insert = f"INSERT INTO bench_admissions VALUES {values} ON CONFLICT DO NOTHING"
                    db.execute(insert, [value for row in rows for value in row])
        return batches * 1000 / (time.perf_counter() - started)


def processing(url: str, customers: int) -> float:
    """Steps/s moving `customers` due enrollments through a 1-step SEND to DELIVERED."""
    with scratch(url) as db:
        db.execute("INSERT INTO bench_enrollments SELECT i, 'c' || i, 0, 'INSIDE', '2026-12-01' "
                   "FROM generate_series(1, %s) AS i", (customers,))  # fmt: skip
        started, moved = time.perf_counter(), 0
        while moved < customers:
            with db.transaction():
                due = db.execute(
                    "SELECT id, customer_id FROM bench_enrollments WHERE state = 'INSIDE' AND "
                    "due_at <= '2026-12-02' ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED"
                ).fetchall()
                ids = [row[0] for row in due]
                db.execute("UPDATE bench_enrollments SET step_index = 1, state = 'COMPLETED', "
                           "due_at = NULL WHERE id = ANY(%s)", (ids,))  # fmt: skip
                values = ", ".join(["(%s, 0, %s, 'QUEUED')"] * len(due))
                db.execute(f"INSERT INTO bench_deliveries VALUES {values} ON CONFLICT DO NOTHING",
                           [value for row in due for value in row])  # fmt: skip
                db.execute("UPDATE bench_deliveries SET state = 'DELIVERED' WHERE step_index = 0 "
                           "AND enrollment_id = ANY(%s)", (ids,))  # fmt: skip
            moved += len(due)
        return moved / (time.perf_counter() - started)


def copy_list(url: str, body: bytes) -> float:
    """Ids/s of loading the CSV `body` into a scratch table, committed."""
    with scratch(url) as db:
        started = time.perf_counter()
        with db.cursor().copy("COPY bench_list FROM STDIN (FORMAT csv, HEADER)") as copy:
            for start in range(0, len(body), 1 << 20):
                copy.write(body[start : start + (1 << 20)])
        return (body.count(b"\n") - 1) / (time.perf_counter() - started)
