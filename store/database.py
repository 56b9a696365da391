"""The database: SQLite (a file, WAL) by default, PostgreSQL when the URL says so.

Every piece of database work is a plain function over a SQLAlchemy Core
`Connection`, run as a whole (the whole transaction, not statement by
statement):

- SQLite: on the event loop's own thread, straight through. SQLite answers
  in microseconds and has one writer anyway, so a transaction that never
  yields is the cheapest way to take turns: no thread hop, and no wait for
  the GIL after each statement (which is what made a worker thread slow
  while the loop was busy). Writes begin with `BEGIN IMMEDIATE`, so the
  file's write lock is taken at the start and held for that transaction
  only; when another process holds it, the loop waits asynchronously and
  tries again, never blocking.
- PostgreSQL: inside SQLAlchemy's greenlet bridge to the async psycopg
  driver (`AsyncConnection.run_sync`): the same function, and every
  statement's round trip lets the loop serve other requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from store.split_sql import register_on_sqlite

T = TypeVar("T")

_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}

# How long a SQLite write waits for another process's write lock, first inside
# SQLite (blocking: keep it short), then in all, retrying from the event loop.
SQLITE_BUSY_MS = 20
SQLITE_LOCK_PATIENCE_SECONDS = 10.0


def sync_url(url: str) -> str:
    """The URL with the driver SQLAlchemy should use (Alembic migrates over it too)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _SYNC_DRIVERS:
        raise ValueError(f"DATABASE_URL must be sqlite:///... or postgresql://..., not {url!r}")
    return parsed.set(drivername=_SYNC_DRIVERS[backend]).render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sqlite: dict[str, _SQLiteConnection] = {}
        self._postgres: AsyncEngine | None = None
        if self.is_sqlite:
            self._sqlite = {
                "write": _SQLiteConnection(url, begin="BEGIN IMMEDIATE"),
                "read": _SQLiteConnection(url, begin="BEGIN"),
            }
        else:
            self._postgres = create_async_engine(
                sync_url(url), pool_size=pool_size, max_overflow=pool_size
            )

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` on a connection that may write: it begins and commits its own
        transaction; one left open is rolled back."""
        if self._postgres is None:
            return await self._sqlite["write"].run(work)
        async with self._postgres.connect() as connection:
            return await connection.run_sync(_rolled_back_after, work)

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one write transaction: committed when it returns, rolled back
        when it raises."""

        def in_transaction(connection: Connection) -> T:
            with connection.begin():
                return work(connection)

        return await self.write(in_transaction)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a read transaction (one consistent snapshot), rolled back after."""

        def in_snapshot(connection: Connection) -> T:
            with connection.begin():
                return work(connection)

        if self._postgres is None:
            return await self._sqlite["read"].run(in_snapshot)
        async with self._postgres.connect() as connection:
            return await connection.run_sync(_rolled_back_after, in_snapshot)

    async def ping(self) -> None:
        await self.read(lambda connection: connection.execute(text("SELECT 1")))

    async def dispose(self) -> None:
        for connection in self._sqlite.values():
            connection.close()
        if self._postgres is not None:
            await self._postgres.dispose()


def _rolled_back_after(connection: Connection, work: Callable[[Connection], T]) -> T:
    try:
        return work(connection)
    finally:
        if connection.in_transaction():
            connection.rollback()


class _SQLiteConnection:
    """One SQLite connection, used from the event loop's thread, one piece of work
    at a time (a piece of work never yields, so nothing interleaves). The event
    loop may run in any thread (a test's server thread, say), so the sqlite3
    module is told not to check which."""

    def __init__(self, url: str, *, begin: str) -> None:
        self._engine = create_engine(
            sync_url(url), poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        event.listen(self._engine, "connect", _tune_sqlite)
        event.listen(self._engine, "begin", self._begin)
        self._begin_statement = begin
        self._connection: Connection | None = None
        self._began = False

    async def run(self, work: Callable[[Connection], T]) -> T:
        deadline = time.monotonic() + SQLITE_LOCK_PATIENCE_SECONDS
        while True:
            self._began = False
            try:
                return _rolled_back_after(self._connect(), work)
            except OperationalError as error:
                # Only a transaction that could not begin is tried again: the
                # write lock was busy, and nothing of `work` has run.
                if self._began or "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.01)

    def _begin(self, connection: Connection) -> None:
        # SQLAlchemy, not the sqlite3 module, says when a transaction begins, and how.
        connection.connection.driver_connection.execute(self._begin_statement)  # type: ignore[union-attr]
        self._began = True

    def _connect(self) -> Connection:
        if self._connection is None or self._connection.invalidated:
            self._connection = self._engine.connect()
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # no implicit BEGIN by the sqlite3 module
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    register_on_sqlite(dbapi_connection)
