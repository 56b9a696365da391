"""The segment loader loop: lists load into the journeys that run them, in any
process that runs it (the API process in embedded mode, every worker in
distributed mode; workers share the loads, each batch locking its own).

It loads while there is something to load, then waits to be told of work (a
load begun, announced after its COMMIT) or for `poll_seconds`: a load begins
in the transaction that first makes a segment journey ACTIVE, and is found
from the database, so nothing is lost with a process or an announcement. Now
and then it removes what uploads cut off by a stopped process left behind.
"""

from __future__ import annotations

import asyncio
import logging

from service.services import Services
from service.stopping import rest

log = logging.getLogger(__name__)

# Passes between two looks for abandoned uploads.
PASSES_PER_CLEANUP = 1_000


class LoadingLoop:
    def __init__(self, services: Services, poll_seconds: float) -> None:
        self._services = services
        self._poll_seconds = poll_seconds
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End `run` after the batch under way (service/stopping.py)."""
        self._stopping.set()
        self._services.loads_ready.set()  # ends the rest between passes

    async def run(self) -> None:
        ready = self._services.loads_ready
        passes = 0
        while not self._stopping.is_set():
            ready.clear()
            try:
                await self._services.metrics.job("loading", self._pass(passes))
            except Exception:
                log.exception("loading pass failed; trying again shortly")
                await rest(self._stopping, 1)
            passes += 1
            await rest(ready, self._poll_seconds)

    async def _pass(self, passes: int) -> int:
        """One pass: the loads that can move (and, now and then, abandoned uploads)."""
        loading = self._services.loading
        if passes % PASSES_PER_CLEANUP == 0:
            await loading.discard_abandoned()
        return await loading.run_all(self._stopping)
