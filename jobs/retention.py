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

import logging

from jobs.loop import PollingLoop
from service.event_retention import EventRetention
from service.services import Services

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0


class RetentionLoop(PollingLoop):
    failed = "retention"
    retry_seconds = 60.0

    def __init__(self, services: Services, interval_seconds: float = INTERVAL_SECONDS) -> None:
        super().__init__(services, interval_seconds)
        self._retention = EventRetention(
            services.database, services.clock, services.settings.event_retention_days
        )

    async def _pass(self) -> None:
        services = self._services
        deleted = await services.metrics.job(
            "event_retention", self._retention.prune(self._stopping)
        )
        if deleted:
            log.info("event retention deleted %d events", deleted)
        swept = await services.customer_import.discard_abandoned()
        if swept:
            log.info("swept %d staged lines of abandoned customer imports", swept)
