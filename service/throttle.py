"""At most one message per interval, always ending on the true value.

Built for dashboards: counts that change in bursts are re-read at most once
per interval, and the last change of a burst is always followed by a read,
so the subscriber settles on what the database holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def throttled(
    changes: AsyncIterator[object],
    read: Callable[[], Awaitable[T]],
    *,
    interval: float,
    refresh_every: float | None = None,
) -> AsyncIterator[T]:
    """Yield `read()` now, then after changes, at most once per `interval` seconds.

    `refresh_every` also re-reads after that long without a change, yielding
    only a value that differs: for changes no event announces.
    """
    dirty = asyncio.Event()
    ended = asyncio.Event()

    async def watch() -> None:
        try:
            async for _ in changes:
                dirty.set()
        finally:
            ended.set()
            dirty.set()

    watcher = asyncio.create_task(watch())
    loop = asyncio.get_running_loop()
    try:
        last = await read()
        yield last
        sent_at = loop.time()
        while True:
            try:
                await asyncio.wait_for(dirty.wait(), timeout=refresh_every)
            except TimeoutError:
                value = await read()
                if value != last:
                    last, sent_at = value, loop.time()
                    yield value
                continue
            if ended.is_set():
                watcher.result()  # re-raise what ended the source, if anything
                return
            await asyncio.sleep(max(0.0, sent_at + interval - loop.time()))
            dirty.clear()  # changes from here on trigger another read
            last = await read()
            sent_at = loop.time()
            yield last
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
