"""The timer loop: applies START and END on time, in any process that runs it.

Nothing is kept in memory that a restart could lose: each pass recomputes
what is due from the database, then sleeps until the next planned date (or
at most `idle_seconds`), or until this process commits an earlier one.

In embedded mode it is the only timer (`runners_for`). In distributed mode
every worker runs one beside the arq jobs: a worker wakes at the due second
it read from the database even when Redis lost every deferred job, and
several workers waking together share a storm of due journeys (each batch
skips the rows another one holds).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from service.services import Services
from service.stopping import rest

log = logging.getLogger(__name__)


class TimerLoop:
    def __init__(
        self, services: Services, idle_seconds: float, wakeup: asyncio.Event | None = None
    ) -> None:
        self._services = services
        # Set when a commit of this process plans a date earlier than the one slept for.
        self._wakeup = wakeup or asyncio.Event()
        self._idle = timedelta(seconds=idle_seconds)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End `run` after the batch under way (service/stopping.py)."""
        self._stopping.set()
        self._wakeup.set()  # ends the sleep until the next date

    async def run_once(self) -> int:
        self._wakeup.clear()
        return await self._services.metrics.job(
            "timer", self._services.commands.apply_all_due(stopping=self._stopping)
        )

    async def run(self) -> None:
        clock = self._services.clock
        while not self._stopping.is_set():
            began = clock.now()
            try:
                await self.run_once()
                next_due = await self._services.reads.next_due_at()
            except Exception:
                log.exception("timer pass failed; trying again shortly")
                await rest(self._stopping, 1)
                continue
            if next_due is not None and next_due <= began:
                # Due before the pass began and still there: it could not be applied
                # (another process holds it). Again after a second of waiting (not of
                # the clock the dates are read on, which a test may hold still).
                await rest(self._stopping, 1)
                continue
            # A date reached while the pass ran (after it read what was due) is
            # slept for until now, which is no wait: the next pass applies it.
            until = clock.now() + self._idle
            if next_due is not None:
                until = min(until, next_due)
            await clock.sleep_until(until, self._wakeup)
