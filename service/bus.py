"""The doorbell between processes: "workspace W has new events in the log".

The bus carries no events, only which workspaces to look at; each process's
feed then reads the log itself (see `service.feed`). It also carries the
journeys a commit wrote without a status change (`JourneyChanged`: created,
edited, deleted), which no log records: a lost one only leaves a page
showing the older row until it next re-reads. And it carries "there
is new work" to the step processors (customers just entered), so a first
step is applied at once wherever the processor runs. In embedded mode the
bus is a direct call; in distributed mode it is Redis pub/sub
(`service.redis_bus`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from domain.events import JourneyChanged


class Listener(Protocol):
    def ring(self, workspace_id: str) -> None:
        """New events may be in this workspace's log."""

    def ring_all(self) -> None:
        """Announcements may have been lost: look at every workspace."""

    def changed(self, change: JourneyChanged) -> None:
        """A journey of `change.workspace_id` was written without a status change."""


class EventBus(Protocol):
    async def announce(self, workspace_ids: Iterable[str]) -> None:
        """Tell every process that these workspaces have newly committed events."""

    async def announce_changes(self, changes: Sequence[JourneyChanged]) -> None:
        """Tell every process of these journeys, just committed."""

    def listen(self, listener: Listener) -> None:
        """Hand every announcement to `listener` (this process's feed)."""

    async def announce_work(self) -> None:
        """Tell every process's step processor and segment loader that there is work:
        customers have just entered, or an audience has begun loading."""

    def on_work(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever work is announced (by any process)."""

    async def start(self) -> None: ...

    async def ping(self) -> None:
        """Raise when the bus cannot carry announcements now."""

    async def close(self) -> None: ...


class InProcessBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._work_listeners: list[Callable[[], None]] = []

    async def announce(self, workspace_ids: Iterable[str]) -> None:
        for workspace_id in set(workspace_ids):
            for listener in self._listeners:
                listener.ring(workspace_id)

    async def announce_changes(self, changes: Sequence[JourneyChanged]) -> None:
        for change in changes:
            for listener in self._listeners:
                listener.changed(change)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def announce_work(self) -> None:
        for wake in self._work_listeners:
            wake()

    def on_work(self, wake: Callable[[], None]) -> None:
        self._work_listeners.append(wake)

    async def start(self) -> None:
        pass

    async def ping(self) -> None:
        pass  # a direct call cannot be down

    async def close(self) -> None:
        pass
