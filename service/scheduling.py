"""Who is told when a journey's next timed action is planned or moved."""

from __future__ import annotations

import asyncio
from typing import Protocol

from domain.journey import Journey
from domain.timing import next_timed_action


class Scheduler(Protocol):
    async def plan(self, journey: Journey) -> None:
        """Called after every commit that may change when `journey` falls due."""


class EmbeddedScheduler:
    """Wakes the in-process timer loop when a plan may have moved earlier.

    The loop itself recomputes what is due from the database, so nothing is
    kept here that a restart could lose.
    """

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()

    async def plan(self, journey: Journey) -> None:
        if next_timed_action(journey.status, journey.start_at, journey.end_at) is not None:
            self.wakeup.set()
