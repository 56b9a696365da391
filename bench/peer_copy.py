"""The peer of a list upload (bench/segment_phases.py): the same CSV bytes streamed into a
scratch table with PostgreSQL `COPY ... FROM STDIN (FORMAT csv, HEADER)`, or on SQLite one
`executemany` INSERT of the parsed ids, on the raw driver. It imports nothing of the project.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time

CHUNK = 1 << 20


def copy_list(url: str, body: bytes) -> float:
    """Ids/s of loading the CSV `body` (`csv_list`'s three columns) into a scratch table,
    committed."""
    lines = body.count(b"\n") - 1
    if url.startswith("sqlite"):
        return lines / _sqlite_insert(url.removeprefix("sqlite:///"), body)
    return lines / _postgres_copy(url, body)


def _sqlite_insert(path: str, body: bytes) -> float:
    connection = sqlite3.connect(path)
    try:
        connection.execute("DROP TABLE IF EXISTS bench_list")
        connection.execute("CREATE TABLE bench_list (position INTEGER, customer_id TEXT)")
        started = time.perf_counter()
        rows = csv.reader(io.StringIO(body.decode()))
        next(rows)
        connection.executemany(
            "INSERT INTO bench_list VALUES (?, ?)",
            ((n, row[0]) for n, row in enumerate(rows, start=2)),
        )
        connection.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


def _postgres_copy(url: str, body: bytes) -> float:
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_list")
        # The CSV's three columns (id, name, birthday), as text: COPY takes every column.
        connection.execute(
            "CREATE TABLE bench_list (customer_id VARCHAR(200), name TEXT, birthday TEXT)"
        )
        connection.commit()
        started = time.perf_counter()
        with connection.cursor().copy("COPY bench_list FROM STDIN (FORMAT csv, HEADER)") as copy:
            for start in range(0, len(body), CHUNK):
                copy.write(body[start : start + CHUNK])
        connection.commit()
        seconds = time.perf_counter() - started
        connection.execute("DROP TABLE bench_list")
        connection.commit()
    return seconds
