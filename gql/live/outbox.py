"""A WebSocket's outbound frames, written in order by the socket's own writer.

Whoever produces a frame (the fan-out of a live event, a reply to a ping)
only appends it here and never waits for the network, so a client that reads
slowly, or not at all, delays nobody but itself. The queue is bounded, in
frames and in characters (a frame is JSON text: about a byte each), so a
stalled client costs at most that much memory however large the events: one
that lets it overflow is disconnected with RESUME_WITH_AFTER and, when it
comes back, resumes with `after` = the last sequence it saw. A single frame
larger than the whole bound still goes out, alone.

The writer is a task that exists only while frames wait: ten thousand idle
dashboards cost ten thousand deques, not ten thousand sleeping tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from starlette.websockets import WebSocket

log = logging.getLogger(__name__)

# Close code for "you fell behind: reconnect and subscribe with `after`".
RESUME_WITH_AFTER = 4410
RESUME_REASON = "too far behind: reconnect with `after`"
# A closing socket first writes what is queued, unless the client reads too slowly.
FLUSH_BEFORE_CLOSE_SECONDS = 2.0


class Outbox:
    def __init__(self, websocket: WebSocket, limit: int, limit_chars: int) -> None:
        self._websocket = websocket
        self._limit = limit
        self._limit_chars = limit_chars
        self._frames: deque[str] = deque()
        self._chars = 0  # of the frames queued
        self._writer: asyncio.Task[None] | None = None
        # Made only when someone waits: a replay for room, a close for the queue to empty.
        self._room: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self.closed = False

    def put(self, frame: str) -> None:
        """Queue a frame; a full queue disconnects the client (4410)."""
        if self.closed:
            return
        if not self._has_room_for(frame):
            self.close_for_resume()
            return
        self._frames.append(frame)
        self._chars += len(frame)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    async def put_waiting(self, frame: str) -> None:
        """Queue a frame once there is room: for a replay, which may run
        ahead of the client but must never be cut short for it."""
        while not self.closed and not self._has_room_for(frame):
            if self._room is None:
                self._room = asyncio.get_running_loop().create_future()
            await self._room
        self.put(frame)

    def close_for_resume(self) -> None:
        """Drop what is queued and tell the client to resume with `after`."""
        if self.closed:
            return
        self._shut()
        task = asyncio.create_task(self._close(RESUME_WITH_AFTER, RESUME_REASON))
        task.add_done_callback(lambda _: None)

    async def close(self, code: int, reason: str) -> None:
        """Write what is queued (a refusal's explanation, say), then close."""
        if self.closed:
            return
        if self._writer is not None:
            self._drained = self._drained or asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._drained), FLUSH_BEFORE_CLOSE_SECONDS)
        self._shut()
        await self._close(code, reason)

    async def aclose(self) -> None:
        """The connection is over: stop writing."""
        writer = self._writer
        self._shut()
        if writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    @property
    def queued(self) -> int:
        return len(self._frames)

    @property
    def queued_chars(self) -> int:
        return self._chars

    def _has_room_for(self, frame: str) -> bool:
        if not self._frames:
            return True
        return len(self._frames) < self._limit and self._chars + len(frame) <= self._limit_chars

    def _shut(self) -> None:
        self.closed = True
        self._frames.clear()
        self._chars = 0
        self._wake_room()  # a replay waiting for room sees `closed`
        if self._writer is not None:
            self._writer.cancel()

    def _wake_room(self) -> None:
        if self._room is not None:
            if not self._room.done():
                self._room.set_result(None)
            self._room = None

    async def _close(self, code: int, reason: str) -> None:
        # A stalled client may keep this waiting until it reads again (the
        # close frame queues behind what the kernel still holds); it costs
        # nothing meanwhile, and uvicorn's pings drop a client that is gone.
        with contextlib.suppress(Exception):
            await self._websocket.close(code, reason)

    async def _write(self) -> None:
        try:
            while self._frames:
                frame = self._frames.popleft()
                self._chars -= len(frame)
                self._wake_room()  # a waiting replay checks whether its frame fits now
                await self._websocket.send_text(frame)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the client went away: the reader side ends the connection
            log.debug("stopped writing to a WebSocket: %r", error)
            self.closed = True
            self._frames.clear()
            self._chars = 0
            self._wake_room()
        finally:
            self._writer = None
            if self._drained is not None:
                if not self._drained.done():
                    self._drained.set_result(None)
                self._drained = None
