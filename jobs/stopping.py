"""How a loop is told to stop: between two batches, never inside one.

A worker that is asked to stop (SIGTERM, Ctrl-C) sets its loops' `stopping`
events: each finishes the batch under way, whose transaction then commits,
and returns instead of taking the next. A loop resting between passes wakes
at once, so stopping never waits for a poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib


async def rest(stopping: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less once `stopping` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
