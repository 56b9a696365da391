"""The limits of bench/audience.py: the same set-based SQL on the raw driver, in scratch tables
of the same shape as the project's, with nothing of the project in between (it imports none
of its packages).

* `bare_admissions`: per batch of 1,000 events matching N journeys, one multi-row
  `INSERT ... ON CONFLICT DO NOTHING` of the N x 1,000 (journey, customer) rows, one
  transaction a batch.
* `bare_processing`: one loop (one connection) doing what a step batch and its hand-over do:
  lock 1,000 due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL), UPDATE them to their next
  step, INSERT their deliveries, mark those delivered; one transaction a batch.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

BATCH = 1_000

_SCHEMA = [
    "DROP TABLE IF EXISTS bench_admissions",
    "CREATE TABLE bench_admissions (journey_id VARCHAR(36), customer_id VARCHAR(200), "
    "state VARCHAR(16), entered_at TIMESTAMP, UNIQUE (journey_id, customer_id))",
    "DROP TABLE IF EXISTS bench_deliveries",
    "DROP TABLE IF EXISTS bench_enrollments",
    "CREATE TABLE bench_enrollments (id INTEGER PRIMARY KEY, customer_id VARCHAR(200), "
    "step_index INTEGER, state VARCHAR(16), due_at TIMESTAMP)",
    "CREATE INDEX bench_enrollments_due ON bench_enrollments (due_at) WHERE state = 'INSIDE'",
    "CREATE TABLE bench_deliveries (enrollment_id INTEGER, step_index INTEGER, "
    "customer_id VARCHAR(200), state VARCHAR(16), UNIQUE (enrollment_id, step_index))",
]


class _Driver:
    """sqlite3 or psycopg behind one `run(sql, params)`, `%s` placeholders either way."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self._connection: Any = sqlite3.connect(
                url.removeprefix("sqlite:///"), isolation_level=None
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
        else:
            import psycopg

            self._connection = psycopg.connect(url, autocommit=True)

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self.sqlite:
            sql = sql.replace("%s", "?")
        cursor = self._connection.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []

    def transaction(self, work: Callable[[], None]) -> None:
        self.run("BEGIN IMMEDIATE" if self.sqlite else "BEGIN")
        work()
        self.run("COMMIT")

    def close(self) -> None:
        self._connection.close()


def _prepared(url: str) -> _Driver:
    driver = _Driver(url)
    for statement in _SCHEMA:
        driver.run(statement)
    return driver


def bare_admissions(url: str, batches: int, journeys: int) -> float:
    """Events/s admitting each event's customer into `journeys` journeys."""
    driver = _prepared(url)
    journey_ids = [f"journey-{n:04d}" for n in range(journeys)]
    try:
        started = time.perf_counter()
        for batch in range(batches):
            rows = [
                (journey_id, f"v{batch}-{n}", "INSIDE", "2026-12-01 00:00:00")
                for n in range(BATCH)
                for journey_id in journey_ids
            ]
            for start in range(0, len(rows), 5_000):  # under both drivers' parameter limits
                chunk = rows[start : start + 5_000]
                values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
                params = [value for row in chunk for value in row]

                def insert(values: str = values, params: list[Any] = params) -> None:
                    driver.run(
                        "INSERT INTO bench_admissions (journey_id, customer_id, state, "
                        f"entered_at) VALUES {values} ON CONFLICT DO NOTHING",
                        params,
                    )

                driver.transaction(insert)
        return batches * BATCH / (time.perf_counter() - started)
    finally:
        driver.close()


def bare_processing(url: str, customers: int) -> float:
    """Steps/s moving `customers` due enrollments through a 1-step SEND to DELIVERED."""
    driver = _prepared(url)
    try:
        series = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            "SELECT i FROM n"
            if driver.sqlite
            else "SELECT i FROM generate_series(1, %s) AS i"
        )
        driver.run(
            "INSERT INTO bench_enrollments (id, customer_id, step_index, state, due_at) "
            f"SELECT i, 'c' || i, 0, 'INSIDE', '2026-12-01 00:00:00' FROM ({series}) AS s",
            [customers],
        )
        lock = "" if driver.sqlite else " FOR UPDATE SKIP LOCKED"
        started = time.perf_counter()
        moved = 0

        def batch() -> None:
            nonlocal moved
            due = driver.run(
                "SELECT id, customer_id FROM bench_enrollments WHERE state = 'INSIDE' AND "
                f"due_at <= '2026-12-02 00:00:00' ORDER BY due_at LIMIT {BATCH}{lock}"
            )
            if not due:
                return
            ids = [row[0] for row in due]
            marks = ", ".join(["%s"] * len(ids))
            driver.run(
                "UPDATE bench_enrollments SET step_index = 1, state = 'COMPLETED', due_at = NULL "
                f"WHERE id IN ({marks})",
                ids,
            )
            values = ", ".join(["(%s, 0, %s, 'QUEUED')"] * len(due))
            driver.run(
                "INSERT INTO bench_deliveries (enrollment_id, step_index, customer_id, state) "
                f"VALUES {values} ON CONFLICT DO NOTHING",
                [value for row in due for value in row],
            )
            driver.run(
                "UPDATE bench_deliveries SET state = 'DELIVERED' "
                f"WHERE step_index = 0 AND enrollment_id IN ({marks})",
                ids,
            )
            moved += len(due)

        while moved < customers:
            before = moved
            driver.transaction(batch)
            if moved == before:
                break
        return moved / (time.perf_counter() - started)
    finally:
        driver.close()
