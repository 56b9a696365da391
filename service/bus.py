"""Hands committed status events to live subscribers (in-process for embedded mode)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Protocol

from domain.events import LoggedStatusChange

OUTBOUND_LIMIT = 10_000


class SubscriberTooSlow(Exception):
    """The subscriber fell too far behind; it should resume with `after`."""


class Subscription:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[LoggedStatusChange | None] = asyncio.Queue(OUTBOUND_LIMIT)
        self.overflowed = False

    def offer(self, event: LoggedStatusChange) -> bool:
        try:
            self._queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self.overflowed = True
            return False

    def close(self) -> None:
        with suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[LoggedStatusChange]:
        return self._events()

    async def _events(self) -> AsyncIterator[LoggedStatusChange]:
        while True:
            event = await self._queue.get()
            if event is None:
                if self.overflowed:
                    raise SubscriberTooSlow("too many events waiting; resume with `after`")
                return
            yield event


class EventBus(Protocol):
    async def publish(self, events: Sequence[LoggedStatusChange]) -> None: ...

    def subscribe(self, workspace_id: str) -> AbstractAsyncContextManager[Subscription]: ...


class InProcessBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def publish(self, events: Sequence[LoggedStatusChange]) -> None:
        for event in events:
            subscribers = self._subscribers.get(event.workspace_id, ())
            for subscription in list(subscribers):
                if not subscription.offer(event):
                    self._subscribers[event.workspace_id].discard(subscription)
                    subscription.close()

    @asynccontextmanager
    async def subscribe(self, workspace_id: str) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscribers[workspace_id].add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers[workspace_id].discard(subscription)
            if not self._subscribers[workspace_id]:
                del self._subscribers[workspace_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())
