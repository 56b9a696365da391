"""The doorbell between processes: "workspace W has new events in the log".

The bus carries no events, only which workspaces to look at; each process's
feed then reads the log itself (see `service.feed`). In embedded mode the
bus is a direct call; in distributed mode it is Redis pub/sub.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

Listener = Callable[[str], None]


class EventBus(Protocol):
    async def announce(self, workspace_ids: Iterable[str]) -> None:
        """Tell every process that these workspaces have newly committed events."""

    def listen(self, listener: Listener) -> None:
        """Call `listener(workspace_id)` on every announcement (this process's feed)."""


class InProcessBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    async def announce(self, workspace_ids: Iterable[str]) -> None:
        for workspace_id in set(workspace_ids):
            for listener in self._listeners:
                listener(workspace_id)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)
