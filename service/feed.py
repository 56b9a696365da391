"""Each workspace's status events, delivered to this process's subscribers in
sequence order, with no gap and no duplicate; and its journey changes.

The log in the database is the source: when the bus rings for a workspace,
its feed reads the log after the last sequence it delivered and hands each
event to every subscriber. Events committed by several requests or several
processes therefore arrive in sequence order, whatever order their
notifications came in, and a lost notification only delays events until the
next one (the feed catches up from the log).

A journey change (`JourneyChanged`, a journey created, edited or deleted
without a status change) has no log: it is handed to the workspace's
subscribers as the bus announces it, among the status events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from domain.errors import ReplayUnavailable
from domain.events import JourneyChanged, LoggedStatusChange, WorkspaceEvent

log = logging.getLogger(__name__)

CATCH_UP_PAGE = 500


class ReadLog(Protocol):
    """Reads a workspace's logged events after a sequence number, oldest first."""

    def __call__(
        self, workspace_id: str, *, after: int, first: int
    ) -> Awaitable[list[LoggedStatusChange]]: ...


ReadLastSequence = Callable[[str], Awaitable[int]]


class SubscriberTooSlow(Exception):
    """The subscriber fell too far behind; it should resume with `after`."""


class Subscription:
    def __init__(self, outbound_limit: int) -> None:
        self._queue: asyncio.Queue[WorkspaceEvent | None] = asyncio.Queue(outbound_limit)
        self.overflowed = False

    def offer(self, event: WorkspaceEvent) -> bool:
        try:
            self._queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self.overflowed = True
            return False

    def close(self) -> None:
        if self.overflowed:
            # It must resume with `after` anyway: drop what it has not read,
            # so the end marker fits and it learns at once.
            while not self._queue.empty():
                self._queue.get_nowait()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[WorkspaceEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[WorkspaceEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                if self.overflowed:
                    raise SubscriberTooSlow("too many events waiting; resume with `after`")
                return
            yield event


class _WorkspaceFeed:
    def __init__(self, workspace_id: str, last_sequence: int, read_log: ReadLog) -> None:
        self.workspace_id = workspace_id
        self.last_sequence = last_sequence
        self.subscribers: set[Subscription] = set()
        self._read_log = read_log
        self._rung = asyncio.Event()
        self._task = asyncio.create_task(self._pump(), name=f"feed:{workspace_id}")

    def ring(self) -> None:
        self._rung.set()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _pump(self) -> None:
        while True:
            await self._rung.wait()
            self._rung.clear()
            try:
                await self._catch_up()
            except ReplayUnavailable as gap:
                # Retention removed events this feed never delivered (it was
                # stuck for longer than the log keeps them): its subscribers
                # cannot be made whole, so they resume and hear the error.
                log.error("feed of workspace %s fell behind the log's retention", self.workspace_id)
                for subscription in list(self.subscribers):
                    subscription.overflowed = True
                    subscription.close()
                self.subscribers.clear()
                self.last_sequence = gap.pruned_through
            except Exception:
                log.exception("feed of workspace %s could not read the log", self.workspace_id)
                await asyncio.sleep(1)
                self._rung.set()

    async def _catch_up(self) -> None:
        while True:
            events = await self._read_log(
                self.workspace_id, after=self.last_sequence, first=CATCH_UP_PAGE
            )
            for event in events:
                self.deliver(event)
                self.last_sequence = event.sequence
            if len(events) < CATCH_UP_PAGE:
                return

    def deliver(self, event: WorkspaceEvent) -> None:
        for subscription in list(self.subscribers):
            if not subscription.offer(event):
                self.subscribers.discard(subscription)
                subscription.close()


class EventFeed:
    def __init__(
        self, read_log: ReadLog, read_last_sequence: ReadLastSequence, outbound_limit: int
    ) -> None:
        """`outbound_limit`: events waiting for one subscriber before it is dropped and
        told to resume with `after` (JOURNEYS_FEED_QUEUE_EVENTS)."""
        self.outbound_limit = outbound_limit
        self._read_log = read_log
        self._read_last_sequence = read_last_sequence
        self._feeds: dict[str, _WorkspaceFeed] = {}
        self._opening = asyncio.Lock()

    def ring(self, workspace_id: str) -> None:
        """New events may be in this workspace's log."""
        feed = self._feeds.get(workspace_id)
        if feed is not None:
            feed.ring()

    def ring_all(self) -> None:
        """After a lost connection to the bus: catch up every workspace from the log."""
        for feed in self._feeds.values():
            feed.ring()

    def changed(self, change: JourneyChanged) -> None:
        """A journey of this workspace was written without a status change."""
        feed = self._feeds.get(change.workspace_id)
        if feed is not None:
            feed.deliver(change)

    @asynccontextmanager
    async def subscribe(self, workspace_id: str) -> AsyncIterator[Subscription]:
        """Live events committed after this call: status events in sequence order,
        journey changes as they are announced."""
        subscription = Subscription(self.outbound_limit)
        async with self._opening:
            feed = self._feeds.get(workspace_id)
            if feed is None:
                last = await self._read_last_sequence(workspace_id)
                feed = self._feeds[workspace_id] = _WorkspaceFeed(
                    workspace_id, last, self._read_log
                )
            feed.subscribers.add(subscription)
        feed.ring()  # anything committed while the feed was opening
        try:
            yield subscription
        finally:
            feed.subscribers.discard(subscription)
            if not feed.subscribers and self._feeds.get(workspace_id) is feed:
                del self._feeds[workspace_id]
                await feed.stop()

    @property
    def subscriber_count(self) -> int:
        return sum(len(feed.subscribers) for feed in self._feeds.values())

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()
