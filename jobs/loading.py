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

from jobs.loop import PollingLoop
from service.services import Services

# Passes between two looks for abandoned uploads.
PASSES_PER_CLEANUP = 1_000


class LoadingLoop(PollingLoop):
    failed = "loading pass"

    def __init__(self, services: Services, poll_seconds: float) -> None:
        # Told of work: a load begun, announced after its COMMIT.
        super().__init__(services, poll_seconds, services.loads_ready)
        self._passes = 0

    async def _pass(self) -> None:
        passes = self._passes
        self._passes += 1
        await self._services.metrics.job("loading", self._load(passes))

    async def _load(self, passes: int) -> int:
        """The loads that can move (and, now and then, abandoned uploads)."""
        loading = self._services.loading
        if passes % PASSES_PER_CLEANUP == 0:
            await loading.discard_abandoned()
        return await loading.run_all(self._stopping)
