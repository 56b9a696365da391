"""How background work is told to stop: between two batches, never inside one.

A process that is asked to stop (a worker's SIGTERM or Ctrl-C, an API process
in embedded mode once its last request is answered) sets its loops' `stopping`
events: each finishes the batch under way, whose transaction then commits,
and returns instead of taking the next. A loop resting between passes wakes
at once, so stopping never waits for a poll interval. What is still busy
STOP_SECONDS later is cancelled: its transaction rolls back, and since every
batch is recomputed from the database, it is simply done again later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

# How long after the signal to stop the batches and jobs under way may take to
# finish; what is left then is cancelled. Well within the grace an orchestrator
# gives before SIGKILL (Kubernetes' 30 s; compose.yaml's stop_grace_period).
STOP_SECONDS = 10


class Stoppable(Protocol):
    def stop(self) -> None:
        """End after the batch under way."""


async def rest(stopping: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less once `stopping` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


async def stop_all(
    loops: Sequence[Stoppable], running: Sequence[asyncio.Task[None]], seconds: float
) -> int:
    """Tell `loops` to stop and wait up to `seconds` for their tasks, `running`, to end;
    cancel those still busy then. Returns how many were cancelled."""
    for loop in loops:
        loop.stop()
    if not running:
        return 0
    _, overdue = await asyncio.wait(running, timeout=max(0.0, seconds))
    for task in overdue:
        task.cancel()
    for task in overdue:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return len(overdue)
