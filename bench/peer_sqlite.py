"""The peers' SQLite driver: the standard library's `sqlite3`, one connection.

The connection is in autocommit mode (`isolation_level=None`), so the transactions are the
store's own: `BEGIN IMMEDIATE` for writes (the file's write lock from the start, as the
project's writer takes it), `BEGIN` for reads (one snapshot), then `COMMIT`. The pragmas are the
project's: WAL, `busy_timeout=10000`, `foreign_keys=ON`, `synchronous=NORMAL`.

Where the calls run (`--sqlite-calls`):

* `direct` (the default): on the event loop itself. A transaction has no await inside, so
  transactions never interleave on the one connection, and no thread is woken: the least
  a server can spend on SQLite, hence the floor's default.
* `thread`: each transaction (all of its statements, BEGIN to COMMIT) is one hop to a single
  database thread, which serializes them.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from peer_common import Dialect, Result, Sql, Store, Work, run_work, sqlite_text

T = TypeVar("T")


class SqliteDialect(Dialect):
    for_update = ""  # BEGIN IMMEDIATE already holds the write lock
    json_list = "json_group_array"

    def now(self) -> Any:
        return sqlite_text(datetime.now(UTC))

    def json(self, value: Any) -> Any:
        return json.dumps(value)


class SqliteStore(Store):
    dialect = SqliteDialect()

    def __init__(self, path: str, *, threaded: bool) -> None:
        super().__init__()
        self._path = path
        self._threaded = threaded
        self._connection: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._texts: dict[str, str] = {}  # %s placeholders -> ?

    async def open(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON",
                       "synchronous=NORMAL"):  # fmt: skip
            connection.execute(f"PRAGMA {pragma}")
        self._connection = connection
        if self._threaded:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

    async def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()

    def _execute(self, statement: Sql) -> Result:
        assert self._connection is not None
        text = self._texts.get(statement.text)
        if text is None:
            text = self._texts[statement.text] = statement.text.replace("%s", "?")
        cursor = self._connection.execute(text, statement.params)
        return cursor.fetchall(), cursor.rowcount

    def _transaction(self, work: Work[T], begin: str) -> T:
        assert self._connection is not None
        self._connection.execute(begin)
        try:
            result = run_work(work, self._execute)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        return result

    async def run(self, work: Work[T], *, write: bool) -> T:
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        if self._executor is None:
            return self._transaction(work, begin)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work, begin)

    async def run_alone(self, work: Work[T]) -> T:
        if self._executor is None:
            return run_work(work, self._execute)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, run_work, work, self._execute)

    def expiry(self, stored: Any) -> float:
        return datetime.fromisoformat(str(stored)).replace(tzinfo=UTC).timestamp()
