"""What every background loop shares: passes until it is told to stop, a failed pass
logged and tried again after a rest, and a wait between passes that news of work or
a stop ends at once (service/stopping.py).

Each loop (jobs/timer.py, jobs/processing.py, jobs/loading.py, jobs/retention.py) says
what one pass does and, where it differs, how long to wait after it.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import ClassVar, Protocol

from service.services import Services
from service.stopping import rest


class Runner(Protocol):
    """Work a process runs beside serving or its arq jobs (jobs/runners.py); its figures
    go to `services.metrics`."""

    async def run(self) -> None: ...

    def stop(self) -> None:
        """End `run` after the batch under way."""


class PollingLoop(ABC):
    """A loop of passes over the database, each recomputing what is due, so a pass that
    fails loses nothing: it is simply tried again."""

    # What failed, as its log line says: "<failed> failed; trying again shortly".
    failed: ClassVar[str]
    # The rest after a failed pass before the next.
    retry_seconds: ClassVar[float] = 1.0

    def __init__(
        self, services: Services, wait_seconds: float, wakeup: asyncio.Event | None = None
    ) -> None:
        self._services = services
        self._wait_seconds = wait_seconds
        # Set to end the wait between passes early: work was announced, or a stop.
        self._wakeup = wakeup or asyncio.Event()
        self._stopping = asyncio.Event()
        self._log = logging.getLogger(type(self).__module__)

    def stop(self) -> None:
        """End `run` after the batch under way (service/stopping.py)."""
        self._stopping.set()
        self._wakeup.set()  # ends the wait between passes

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()  # news from now on is for the pass after this one
            try:
                await self._pass()
            except Exception:
                self._log.exception("%s failed; trying again shortly", self.failed)
                await rest(self._stopping, self.retry_seconds)
                continue
            await self._wait()

    @abstractmethod
    async def _pass(self) -> None:
        """One pass: the batches due now, until none is left or the loop is stopping."""

    async def _wait(self) -> None:
        """Between two passes: `wait_seconds`, or less once work is announced."""
        await rest(self._wakeup, self._wait_seconds)
