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
import cProfile
import logging
import os

from service.services import Services
from service.stopping import rest

log = logging.getLogger(__name__)


class ProcessingLoop:
    def __init__(self, services: Services, poll_seconds: float) -> None:
        self._services = services
        self._poll_seconds = poll_seconds
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End `run` after the batch under way (service/stopping.py)."""
        self._stopping.set()
        self._services.work_ready.set()  # ends the rest between passes

    async def run(self) -> None:
        ready = self._services.work_ready
        log.info("step processor running (looks every %.0f ms at least)", self._poll_seconds * 1000)
        profile = _Profile.from_environment()
        while not self._stopping.is_set():
            ready.clear()
            try:
                with profile:
                    await self._services.metrics.job(
                        "processing", self._services.processing.run_all(self._stopping)
                    )
            except Exception:
                log.exception("processing pass failed; trying again shortly")
                await rest(self._stopping, 1)
                continue
            await rest(ready, self._poll_seconds)


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
