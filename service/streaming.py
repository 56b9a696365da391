"""Writing a stream's batches while the next one is read (the audience upload, the
customer import)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

B = TypeVar("B")


async def write_while_reading(
    batches: AsyncIterator[B], write: Callable[[B], Awaitable[None]]
) -> None:
    """Each batch is written while the next one is read: the database's part of the
    work (PostgreSQL's server process, SQLite's thread) runs beside this process's
    reading, not after it. One write at a time is in flight; when reading fails,
    it is let finish (the caller removes what was written), and the reading's
    error is the one raised."""

    async def written(batch: B) -> None:
        await write(batch)

    writing: asyncio.Task[None] | None = None
    try:
        async for batch in batches:
            if writing is not None:
                await writing
            writing = asyncio.create_task(written(batch))
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            await asyncio.wait([writing])
            if not writing.cancelled():
                writing.exception()  # the reading's error is the one to tell
