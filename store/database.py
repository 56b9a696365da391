"""The database: SQLite (a file, WAL) by default, PostgreSQL when the URL says so.

Every piece of database work is a plain function over a SQLAlchemy Core
`Connection`, and runs in one hop to a database thread: the whole
transaction, not one hop per statement. The event loop only waits for the
answer.

- SQLite has one writer. Writes go to a single writer thread, which holds
  one connection and starts each transaction with `BEGIN IMMEDIATE`, so the
  file's write lock is taken at the start and held for that transaction
  only. Reads go to a few reader threads, each with its own connection;
  WAL lets them read while the writer writes.
- PostgreSQL: a pool of threads, each keeping its own connection, serves
  reads and writes alike; row locks (`FOR UPDATE`) order the writers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

T = TypeVar("T")

_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
SQLITE_READERS = 4


def sync_url(url: str) -> str:
    """The URL with the driver SQLAlchemy should use (Alembic migrates over it too)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _SYNC_DRIVERS:
        raise ValueError(f"DATABASE_URL must be sqlite:///... or postgresql://..., not {url!r}")
    return parsed.set(drivername=_SYNC_DRIVERS[backend]).render_as_string(hide_password=False)


class _ConnectionThreads:
    """Threads that each keep one connection of `engine`, and run work on it."""

    def __init__(self, engine: Engine, threads: int, name: str) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()

    async def run(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_here, work)

    def _run_here(self, work: Callable[[Connection], T]) -> T:
        connection = self._connection()
        try:
            return work(connection)
        finally:
            # Whatever `work` left open (it raised, or it only read) ends here,
            # so the next piece of work starts clean and locks are let go.
            if connection.in_transaction():
                connection.rollback()

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                connection.close()
            connection = self._engine.connect()
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._opened_lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()


class Database:
    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            # Connections are held by their threads for good: no pool needed.
            writer_engine = create_engine(sync_url(url), poolclass=NullPool)
            reader_engine = create_engine(sync_url(url), poolclass=NullPool)
            _begin_with(writer_engine, "BEGIN IMMEDIATE")
            _begin_with(reader_engine, "BEGIN")
            self._engines = [writer_engine, reader_engine]
            self._writer = _ConnectionThreads(writer_engine, 1, "sqlite-writer")
            self._readers = _ConnectionThreads(reader_engine, SQLITE_READERS, "sqlite-reader")
        else:
            engine = create_engine(sync_url(url), poolclass=NullPool)
            self._engines = [engine]
            self._writer = self._readers = _ConnectionThreads(engine, pool_size, "postgres")

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` on a connection that may write: it begins and commits its own
        transaction; one left open is rolled back. On SQLite, writers take turns."""
        return await self._writer.run(work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a read transaction (one consistent snapshot), rolled back after."""

        def in_snapshot(connection: Connection) -> T:
            with connection.begin():
                return work(connection)

        return await self._readers.run(in_snapshot)

    async def ping(self) -> None:
        await self.read(lambda connection: connection.execute(text("SELECT 1")))

    async def dispose(self) -> None:
        closing = {id(threads): threads for threads in (self._writer, self._readers)}
        for threads in closing.values():
            await asyncio.to_thread(threads.close)
        for engine in self._engines:
            engine.dispose()


def _begin_with(engine: Engine, begin: str) -> None:
    """Let SQLAlchemy, not the sqlite3 module, say when a transaction begins, and how."""

    @event.listens_for(engine, "connect")
    def tune(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN by the sqlite3 module
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin_transaction(connection: Connection) -> None:
        connection.exec_driver_sql(begin)
