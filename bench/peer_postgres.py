"""The peers' PostgreSQL driver: async `psycopg`, a small pool of connections.

The pool is a queue of `--pool-size` (16) connections opened at start; a request takes one,
runs its transaction (psycopg begins it with the first statement; the store commits, or rolls
back on any error) and puts it back. No check on checkout (the project's engine pings on each
checkout: that is its own cost). A connection found broken is replaced.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from peer_common import Dialect, Result, Sql, Store, Work, run_work_async
from psycopg.types.json import Json

T = TypeVar("T")
Connection = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresDialect(Dialect):
    for_update = " FOR UPDATE"
    json_list = "json_agg"

    def now(self) -> Any:
        return datetime.now(UTC)

    def json(self, value: Any) -> Any:
        return Json(value)


async def _execute(connection: Connection, statement: Sql) -> Result:
    cursor = await connection.execute(statement.text, statement.params)
    rows = await cursor.fetchall() if cursor.description is not None else []
    return rows, cursor.rowcount


class PostgresStore(Store):
    dialect = PostgresDialect()

    def __init__(self, url: str, pool_size: int) -> None:
        super().__init__()
        self._url = url
        self._size = pool_size
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        self._all: list[Connection] = []

    async def open(self) -> None:
        for _ in range(self._size):
            self._all.append(await psycopg.AsyncConnection.connect(self._url))
            self._idle.put_nowait(self._all[-1])

    async def close(self) -> None:
        for connection in self._all:
            await connection.close()

    async def _take(self) -> Connection:
        connection = await self._idle.get()
        if connection.broken or connection.closed:
            self._all.remove(connection)
            connection = await psycopg.AsyncConnection.connect(self._url)
            self._all.append(connection)
        return connection

    async def run(self, work: Work[T], *, write: bool) -> T:
        connection = await self._take()
        try:
            result = await run_work_async(work, lambda sql: _execute(connection, sql))
            await connection.commit()
            return result
        except BaseException:
            if not connection.broken:
                await connection.rollback()
            raise
        finally:
            self._idle.put_nowait(connection)

    async def run_alone(self, work: Work[T]) -> T:
        return await self.run(work, write=False)

    def expiry(self, stored: Any) -> float:
        assert isinstance(stored, datetime)
        return stored.timestamp()
