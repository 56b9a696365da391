"""The live runtime of one app: the shared executions, the open sockets, and the heap
they live on.

The app builds one (gql/app.py's `create_app`) and starts and closes it with the
server. The WebSocket handlers reach it through the view that makes them
(gql/live/transport.py); an execution of a subscription reaches its part of it,
its LiveExecution, as Strawberry's root value (gql/live/multiplex.py). A
request's Context carries none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import strawberry
from starlette.websockets import WebSocket

from gql.live.connections import Connections
from gql.live.heap import LongLivedHeap
from gql.live.multiplex import Multiplexer
from gql.live.outbox import Outbox
from service.metrics import Metrics
from service.settings import Settings
from service.tokens import Tokens

log = logging.getLogger(__name__)


class LiveRuntime:
    def __init__(self, schema: strawberry.Schema, settings: Settings, tokens: Tokens) -> None:
        self.multiplexer = Multiplexer(schema, hold_limit=settings.ws_outbox_frames)
        self.heap = LongLivedHeap()
        self.connections = Connections(self.heap)
        self._settings = settings
        self._tokens = tokens
        self._tasks: list[asyncio.Task[None]] = []

    def outbox(self, websocket: WebSocket) -> Outbox:
        """A new socket's queue of outbound frames, bounded as the settings say."""
        settings = self._settings
        return Outbox(websocket, settings.ws_outbox_frames, settings.ws_outbox_bytes)

    def report_to(self, metrics: Metrics) -> None:
        """Gauges of the subscribers, the executions serving them and the sockets."""
        multiplexer, connections = self.multiplexer, self.connections
        metrics.watch(
            "journeys_subscribers",
            "Live WebSocket subscriptions on this process.",
            lambda: multiplexer.subscriber_count,
        )
        metrics.watch(
            "journeys_shared_subscriptions",
            "Distinct executions serving them.",
            lambda: multiplexer.shared_count,
        )
        metrics.watch(
            "journeys_websockets",
            "Open, acknowledged WebSocket connections.",
            lambda: len(connections),
        )

    def start(self) -> None:
        """Once the services are started: freeze the heap, and from now on check the
        tokens of open sockets again and again, and keep the heap frozen."""
        self.heap.start()
        self._tasks = [
            asyncio.create_task(self._recheck_tokens()),
            asyncio.create_task(self.heap.run()),
        ]

    async def close(self) -> None:
        """Before the services close: stop checking, and end every shared execution."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.multiplexer.close()

    async def _recheck_tokens(self) -> None:
        while True:
            await asyncio.sleep(self._settings.token_recheck_seconds)
            try:
                closed = await self.connections.recheck_tokens(self._tokens)
                if closed:
                    log.info("closed %d WebSocket(s) whose token is no longer valid", closed)
            except Exception:  # the database may be down for a moment; try again later
                log.exception("could not check the tokens of open WebSockets")
