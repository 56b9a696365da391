"""The Outbox bounds what waits for one WebSocket in frames and in characters."""

from __future__ import annotations

import asyncio

import pytest

from gql.live.outbox import RESUME_WITH_AFTER, Outbox

pytestmark = pytest.mark.anyio


class StalledSocket:
    """A client that reads nothing until told to."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()
        self.sent: list[str] = []
        self.closed_with: int | None = None

    async def send_text(self, frame: str) -> None:
        await self.reading.wait()
        self.sent.append(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = code


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_stalled_client_holds_at_most_the_characters_allowed() -> None:
    socket = StalledSocket()
    outbox = Outbox(socket, limit=1_000, limit_chars=10_000)  # type: ignore[arg-type]
    outbox.put("a" * 4_000)  # taken by the writer, which waits on the client
    await settle()
    outbox.put("b" * 4_000)
    outbox.put("c" * 4_000)
    assert outbox.queued_chars == 8_000 and not outbox.closed
    outbox.put("d" * 4_000)  # 12,000 would wait: over the bound
    await settle()
    assert outbox.closed and socket.closed_with == RESUME_WITH_AFTER
    assert outbox.queued_chars == 0  # nothing kept for a client that must resume


async def test_one_frame_larger_than_the_bound_still_goes_out_alone() -> None:
    socket = StalledSocket()
    socket.reading.set()
    outbox = Outbox(socket, limit=1_000, limit_chars=100)  # type: ignore[arg-type]
    outbox.put("x" * 500)
    await settle()
    assert socket.sent == ["x" * 500] and not outbox.closed


async def test_a_replay_waits_for_room_in_characters_instead_of_overflowing() -> None:
    socket = StalledSocket()
    outbox = Outbox(socket, limit=1_000, limit_chars=1_000)  # type: ignore[arg-type]
    outbox.put("a" * 600)
    await settle()
    outbox.put("b" * 600)
    waiting = asyncio.create_task(outbox.put_waiting("c" * 600))
    await settle()
    assert not waiting.done() and not outbox.closed
    socket.reading.set()
    await asyncio.wait_for(waiting, 5)
    await settle()
    assert [frame[0] for frame in socket.sent] == ["a", "b", "c"] and not outbox.closed
