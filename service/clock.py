"""The one clock every part of the service reads, so tests can drive time."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        """Return at `when`, or earlier when `wake` is set."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        delay = (when - self.now()).total_seconds()
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)


class ManualClock:
    """A clock that moves only when told to. For tests and demos; thread-safe to advance."""

    def __init__(self, start: datetime, poll_seconds: float = 0.005) -> None:
        self._now = start
        self._poll_seconds = poll_seconds

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, **delta: float) -> datetime:
        self._now = self._now + timedelta(**delta)
        return self._now

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        # Polls rather than waits on a timer: the test thread moves the time
        # without touching this event loop.
        while self._now < when and not wake.is_set():
            await asyncio.sleep(self._poll_seconds)
