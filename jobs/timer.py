"""The embedded timer: an in-process loop that applies START and END on time.

Nothing is kept in memory that a restart could lose: each pass recomputes
what is due from the database, then sleeps until the next planned date, or
until a commit plans an earlier one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from service.scheduling import EmbeddedScheduler
from service.services import Services
from service.settings import Mode

log = logging.getLogger(__name__)


class EmbeddedTimer:
    def __init__(self, services: Services) -> None:
        if not isinstance(services.scheduler, EmbeddedScheduler):
            raise ValueError("the embedded timer runs in embedded mode only")
        self._services = services
        self._wakeup = services.scheduler.wakeup
        self._idle = timedelta(seconds=services.settings.timer_idle_seconds)
        self.passes = 0
        self.applied = 0

    async def run_once(self) -> int:
        self._wakeup.clear()
        applied = await self._services.commands.apply_all_due()
        self.passes += 1
        self.applied += applied
        return applied

    def metric_lines(self) -> list[str]:
        return [
            "# HELP journeys_timer_passes_total Passes of the embedded timer loop.",
            "# TYPE journeys_timer_passes_total counter",
            f"journeys_timer_passes_total {self.passes}",
            "# HELP journeys_timer_transitions_total Journeys moved by timed transitions here.",
            "# TYPE journeys_timer_transitions_total counter",
            f"journeys_timer_transitions_total {self.applied}",
        ]

    async def run(self) -> None:
        clock = self._services.clock
        while True:
            try:
                await self.run_once()
                next_due = await self._services.reads.next_due_at()
            except Exception:
                log.exception("timer pass failed; trying again shortly")
                next_due = None
                await asyncio.sleep(1)
            now = clock.now()
            until = now + self._idle
            if next_due is not None and next_due < until:
                # A date already past after a full pass is one we could not
                # apply; retry it in a second rather than spin.
                until = next_due if next_due > now else now + timedelta(seconds=1)
            await clock.sleep_until(until, self._wakeup)


def runners_for(services: Services) -> list[EmbeddedTimer]:
    """What an API process runs beside serving: the timer loop in embedded mode;
    nothing in distributed mode, where `journeys worker` processes do the work."""
    return [EmbeddedTimer(services)] if services.settings.mode is Mode.EMBEDDED else []
