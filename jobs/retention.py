"""The retention loop: customers' old events are deleted (service/event_retention.py),
and the staged lines of customer imports whose process stopped midway are swept
(service/customer_import.py), in any process that runs it (the API process in
embedded mode, every worker in distributed mode: their batches do not overlap, a
batch deleted by one is not found by another).

It prunes at start, then every `interval_seconds` (an hour by default): events
expire by the day, so an hour late is nothing, and each pass is a few cheap
batches once the backlog is gone.
"""

from __future__ import annotations

import asyncio
import logging

from service.event_retention import EventRetention
from service.services import Services
from service.stopping import rest

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0


class RetentionLoop:
    def __init__(self, services: Services, interval_seconds: float = INTERVAL_SECONDS) -> None:
        self._services = services
        self._interval_seconds = interval_seconds
        self._retention = EventRetention(
            services.database, services.clock, services.settings.event_retention_days
        )
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End `run` after the batch under way (service/stopping.py)."""
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                deleted = await self._services.metrics.job(
                    "event_retention", self._retention.prune(self._stopping)
                )
                if deleted:
                    log.info("event retention deleted %d events", deleted)
                swept = await self._services.customer_import.discard_abandoned()
                if swept:
                    log.info("swept %d staged lines of abandoned customer imports", swept)
            except Exception:
                log.exception("retention failed; trying again shortly")
                await rest(self._stopping, 60)
                continue
            await rest(self._stopping, self._interval_seconds)
