"""One execution of a live subscription, as the runtime runs it and reads it back.

A subscription declares what it can deliver (`gql.live.subscription.Live`);
the Multiplexer decides which part an execution delivers and learns, from
the `LiveExecution` it runs the subscription with (as Strawberry's root
value, which the subscription's resolver reads), what it needs for the
hand-over:

- LIVE, the shared execution of every subscriber of one key: the workspace's
  live events are subscribed to before anything else, and `ready` is set
  once they are (or once the execution is over without ever listening), so a
  replay that starts after `ready` misses nothing committed from then on.
- REPLAY, one subscriber's own replay of the log after its `after`, executed
  for it alone; `last_sequence` says how far it went.
- BOTH, for an execution no Multiplexer runs (Strawberry's own path, a test
  calling `schema.subscribe`): live events subscribed, the replay, then the
  live values that come after it, the hand-over done here.

In every phase, `last_sequence` is the sequence of the value last yielded
(None for a value without one, such as counts): read right after each result,
it labels the frame, and the fan-out skips what a replay sent already.
`current` is the declaration's (`Live.current`), known once it has returned:
whether the frame last sent is what a subscriber joining now starts from.
Only the runtime reads or writes any of this; a subscription never does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from enum import Enum, auto
from typing import TYPE_CHECKING, Any, TypeVar

from service.feed import SubscriberTooSlow

if TYPE_CHECKING:
    from domain.events import WorkspaceEvent
    from gql.live.subscription import Live

T = TypeVar("T")

Listen = Callable[[], AbstractAsyncContextManager[Any]]
"""Opens the workspace's live events (`EventFeed.subscribe`): an async iterable of them."""


class Phase(Enum):
    LIVE = auto()  # the shared execution: live values for every subscriber of its key
    REPLAY = auto()  # one subscriber's replay of the log, before it joins the live values
    BOTH = auto()  # no Multiplexer runs it: replay, then live, handed over here


class LiveExecution:
    def __init__(self, phase: Phase, *, fell_behind: Callable[[], None] | None = None) -> None:
        self.phase = phase
        # Called when live events came faster than this execution took them;
        # without it (BOTH), the subscription ends with the error instead.
        self._fell_behind = fell_behind
        self.last_sequence: int | None = None
        self.current = False
        self.listening = False
        self.ready = asyncio.Event()  # listening, or over without ever listening

    def over(self) -> None:
        """The execution ended: nobody may wait for it to listen any longer."""
        self.ready.set()

    async def deliver(
        self, declared: Live[T], after: int | None, listen: Listen
    ) -> AsyncIterator[T]:
        """The values this execution's phase delivers, each recorded before it is yielded."""
        self.current = declared.current
        if self.phase is Phase.REPLAY:
            async for value in self._replay(declared, after):
                yield value
            return
        async with listen() as feed:
            self.listening = True
            self.ready.set()
            replayed_through: int | None = None
            if self.phase is Phase.BOTH:
                async for value in self._replay(declared, after):
                    yield value
                replayed_through = self.last_sequence
            events: AsyncIterator[WorkspaceEvent] = aiter(feed)
            values = declared.live(events)
            try:
                async for sequence, value in values:
                    if (
                        replayed_through is not None
                        and sequence is not None
                        and sequence <= replayed_through
                    ):
                        continue  # taken by the feed before the replay read it: sent
                    self.last_sequence = sequence
                    yield value
            except SubscriberTooSlow:
                if self._fell_behind is None:
                    raise
                self._fell_behind()
            finally:
                await _close(values)

    async def _replay(self, declared: Live[T], after: int | None) -> AsyncIterator[T]:
        self.last_sequence = after
        if after is None or declared.replay is None:
            return
        values = declared.replay(after)
        try:
            async for sequence, value in values:
                self.last_sequence = sequence
                yield value
        finally:
            await _close(values)


async def _close(values: AsyncIterator[Any]) -> None:
    """Close a declared generator now (a throttle's watcher task with it), not at collection."""
    aclose = getattr(values, "aclose", None)
    if aclose is not None:
        await aclose()
