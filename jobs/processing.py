"""The step processor loop: customers move on and messages go out, in any
process that runs it (the API process in embedded mode, every worker in
distributed mode).

It works while there is work, then waits to be told of new work (customers
entering through this process) or for `poll_seconds`, the safety net that
finds work other processes created and waits that ran out. Everything it
does is recomputed from the database, batch by batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from service.services import Services

log = logging.getLogger(__name__)


class ProcessingLoop:
    def __init__(self, services: Services, poll_seconds: float) -> None:
        self._services = services
        self._poll_seconds = poll_seconds
        self.moved = 0

    def metric_lines(self) -> list[str]:
        return [
            "# HELP journeys_processed_rows_total Enrollments and deliveries moved here.",
            "# TYPE journeys_processed_rows_total counter",
            f"journeys_processed_rows_total {self.moved}",
        ]

    async def run(self) -> None:
        ready = self._services.work_ready
        while True:
            ready.clear()
            try:
                moved = await self._services.processing.run_all()
            except Exception:
                log.exception("processing pass failed; trying again shortly")
                await asyncio.sleep(1)
                continue
            self.moved += moved
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), timeout=self._poll_seconds)
