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
from datetime import datetime, timedelta

from jobs.loop import PollingLoop
from service.services import Services
from service.stopping import rest


class TimerLoop(PollingLoop):
    failed = "timer pass"

    def __init__(
        self, services: Services, idle_seconds: float, wakeup: asyncio.Event | None = None
    ) -> None:
        # `wakeup` is set when a commit of this process plans a date earlier than the one
        # slept for.
        super().__init__(services, idle_seconds, wakeup)
        self._began: datetime | None = None
        self._next_due: datetime | None = None

    async def _pass(self) -> None:
        services = self._services
        self._began = services.clock.now()
        await services.metrics.job(
            "timer", services.commands.apply_all_due(stopping=self._stopping)
        )
        self._next_due = await services.reads.next_due_at()

    async def _wait(self) -> None:
        clock, next_due = self._services.clock, self._next_due
        if next_due is not None and self._began is not None and next_due <= self._began:
            # Due before the pass began and still there: it could not be applied
            # (another process holds it). Again after a second of waiting (not of
            # the clock the dates are read on, which a test may hold still).
            await rest(self._stopping, 1)
            return
        # A date reached while the pass ran (after it read what was due) is
        # slept for until now, which is no wait: the next pass applies it.
        until = clock.now() + timedelta(seconds=self._wait_seconds)
        if next_due is not None:
            until = min(until, next_due)
        await clock.sleep_until(until, self._wakeup)
