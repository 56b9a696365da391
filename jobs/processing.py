"""The step processor loop: customers move on and messages go out, in any
process that runs it (the API process in embedded mode, every worker in
distributed mode).

It works while there is work, then waits to be told of new work (customers
entering through this process) or for `poll_seconds`, the safety net that
finds work other processes created and waits that ran out. Everything it
does is recomputed from the database, batch by batch.
"""

from __future__ import annotations

import cProfile
import logging
import os

from jobs.loop import PollingLoop
from service.services import Services

log = logging.getLogger(__name__)


class ProcessingLoop(PollingLoop):
    failed = "processing pass"

    def __init__(self, services: Services, poll_seconds: float) -> None:
        # Told of new work: customers entering through this process.
        super().__init__(services, poll_seconds, services.work_ready)
        self._profile = _Profile.from_environment()

    async def run(self) -> None:
        log.info("step processor running (looks every %.0f ms at least)", self._wait_seconds * 1000)
        await super().run()

    async def _pass(self) -> None:
        services = self._services
        with self._profile:
            await services.metrics.job("processing", services.processing.run_all(self._stopping))


class _Profile:
    """cProfile over the processor's passes, for profiling a worker (sampling profilers
    stop at SQLAlchemy's greenlet bridge): with JOURNEYS_PROCESSING_PROFILE=PATH set, the
    statistics of every pass so far go to PATH.<pid> after each pass (read them with
    `python -m pstats`). Everything the event loop runs meanwhile is counted
    too (arq, the timer loop): the whole CPU of a busy worker."""

    def __init__(self, path: str | None) -> None:
        self._path = f"{path}.{os.getpid()}"
        self._profile: cProfile.Profile | None = cProfile.Profile() if path else None

    @classmethod
    def from_environment(cls) -> _Profile:
        return cls(os.environ.get("JOURNEYS_PROCESSING_PROFILE"))

    def __enter__(self) -> None:
        if self._profile is not None:
            self._profile.enable()

    def __exit__(self, *exception: object) -> None:
        if self._profile is not None:
            self._profile.disable()
            self._profile.dump_stats(self._path)
