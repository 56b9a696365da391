"""Customers' events are kept `JOURNEYS_EVENT_RETENTION_DAYS` (by when they happened),
then deleted: the oldest first, a batch per short transaction, until none older
than the cutoff is left. Safe while the service runs, in any number of processes:
events are only ever appended, and a batch deleted by another process is simply
not found again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Connection

from service.clock import Clock
from store import customer_events as event_store
from store.database import Database


class EventRetention:
    # Events deleted per transaction: small enough that a batch holds (on SQLite)
    # the single writer only for moments.
    BATCH_SIZE = 1000

    def __init__(
        self, database: Database, clock: Clock, days: int, *, batch_size: int = BATCH_SIZE
    ) -> None:
        if days < 1:
            raise ValueError("events are kept at least one day")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._database = database
        self._clock = clock
        self._kept = timedelta(days=days)
        self._batch_size = batch_size

    async def prune(self, stopping: asyncio.Event | None = None) -> int:
        """Delete every event that happened before now minus the retention period, a
        batch per transaction, stopping early (between two batches) when `stopping` is
        set; returns how many were deleted."""
        cutoff = self._clock.now() - self._kept

        def delete_batch(connection: Connection) -> int:
            return event_store.delete_older_than(connection, cutoff, self._batch_size)

        deleted = 0
        while stopping is None or not stopping.is_set():
            count = await self._database.transaction(delete_batch)
            deleted += count
            if count < self._batch_size:
                break
        return deleted
