"""The throttle: one read per burst of changes, and the last read is the truth."""

from __future__ import annotations

import asyncio

import pytest

from service.throttle import throttled

pytestmark = pytest.mark.anyio


async def test_a_burst_gives_one_message_and_ends_on_the_truth():
    changes: asyncio.Queue[int | None] = asyncio.Queue()
    value = 0

    async def source():
        while (item := await changes.get()) is not None:
            yield item

    async def read() -> int:
        return value

    received: list[int] = []
    stream = throttled(source(), read, interval=0.2)
    received.append(await anext(stream))
    for value in range(1, 51):  # a burst, all within one interval
        changes.put_nowait(value)
    received.append(await anext(stream))
    value = 99
    changes.put_nowait(value)
    received.append(await anext(stream))
    changes.put_nowait(None)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert received == [0, 50, 99]


async def test_quiet_refresh_sends_only_what_moved():
    value = 1

    async def never():
        await asyncio.Event().wait()
        yield 0

    async def read() -> int:
        return value

    stream = throttled(never(), read, interval=0.01, refresh_every=0.02)
    assert await anext(stream) == 1
    value = 2  # changed without any announcement
    assert await asyncio.wait_for(anext(stream), timeout=5) == 2
    await stream.aclose()
