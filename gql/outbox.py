"""A WebSocket's outbound frames, written by one task per socket.

Whoever produces a frame (the fan-out of a live event, a reply to a ping)
only appends it here and never waits for the network, so a client that reads
slowly, or not at all, delays nobody but itself. The queue is bounded: a
client that lets it overflow is disconnected with RESUME_WITH_AFTER and, when
it comes back, resumes with `after` = the last sequence it saw.
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
    def __init__(self, websocket: WebSocket, limit: int) -> None:
        self._websocket = websocket
        self._limit = limit
        self._frames: deque[str] = deque()
        self._waiting = asyncio.Event()  # set while frames wait to be written
        self._room = asyncio.Event()  # set while the queue has room
        self._room.set()
        self._drained = asyncio.Event()  # set while nothing waits to be written
        self._drained.set()
        self.closed = False
        self._writer = asyncio.create_task(self._write(), name="outbox")

    def put(self, frame: str) -> None:
        """Queue a frame; a full queue disconnects the client (4410)."""
        if self.closed:
            return
        if len(self._frames) >= self._limit:
            self.close_for_resume()
            return
        self._frames.append(frame)
        self._drained.clear()
        self._waiting.set()
        if len(self._frames) >= self._limit:
            self._room.clear()

    async def put_waiting(self, frame: str) -> None:
        """Queue a frame once there is room: for a replay, which may run
        ahead of the client but must never be cut short for it."""
        while not self.closed and len(self._frames) >= self._limit:
            self._room.clear()
            await self._room.wait()
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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), FLUSH_BEFORE_CLOSE_SECONDS)
        self._shut()
        await self._close(code, reason)

    async def aclose(self) -> None:
        """The connection is over: stop writing."""
        self._shut()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    @property
    def queued(self) -> int:
        return len(self._frames)

    def _shut(self) -> None:
        self.closed = True
        self._frames.clear()
        self._room.set()  # wake a replay waiting for room: it sees `closed`
        self._writer.cancel()

    async def _close(self, code: int, reason: str) -> None:
        # A stalled client may keep this waiting until it reads again (the
        # close frame queues behind what the kernel still holds); it costs
        # nothing meanwhile, and uvicorn's pings drop a client that is gone.
        with contextlib.suppress(Exception):
            await self._websocket.close(code, reason)

    async def _write(self) -> None:
        try:
            while True:
                await self._waiting.wait()
                while self._frames:
                    frame = self._frames.popleft()
                    if not self._room.is_set():
                        self._room.set()
                    await self._websocket.send_text(frame)
                self._waiting.clear()
                self._drained.set()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the client went away: the reader side ends the connection
            log.debug("stopped writing to a WebSocket: %r", error)
            self.closed = True
            self._frames.clear()
            self._room.set()
