"""Who is told when a journey's next timed action is planned or moved."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

from domain.journey import Journey
from domain.timing import next_timed_action
from service.clock import Clock

log = logging.getLogger(__name__)

APPLY_DUE_JOB = "apply_due_transitions"


class Scheduler(Protocol):
    async def plan(self, journeys: Iterable[Journey]) -> None:
        """Called after every commit that may change when these journeys fall due."""

    async def close(self) -> None: ...


class EmbeddedScheduler:
    """Wakes the in-process timer loop when a plan may have moved earlier.

    The loop itself recomputes what is due from the database, so nothing is
    kept here that a restart could lose.
    """

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()

    async def plan(self, journeys: Iterable[Journey]) -> None:
        if any(_planned(journey) for journey in journeys):
            self.wakeup.set()

    async def close(self) -> None:
        pass


def _planned(journey: Journey) -> tuple[str, datetime | None] | None:
    return next_timed_action(journey.status, journey.start_at, journey.end_at)


def job_id(action: str, workspace_id: str, due_at: datetime) -> str:
    """Carries the exact date planned: a moved date never reuses an old job's id.

    One job per workspace and date, not per journey: a thousand journeys due
    at the same second are one job that applies them in a few transactions.
    """
    return f"{action.lower()}:{workspace_id}:{due_at.isoformat()}"


class ArqScheduler:
    """Enqueues a deferred arq job for the date of the journey's next timed action.

    Jobs are only a prompt: each re-reads the database and applies only what
    is still due then, so a job left behind by a moved date, a freeze or an
    abort does nothing. The workers' sweep applies anything a lost job missed.
    """

    def __init__(self, redis_url: str, queue_name: str, clock: Clock) -> None:
        self._redis_settings = RedisSettings.from_dsn(redis_url)
        self._queue_name = queue_name
        self._clock = clock
        self._pool: ArqRedis | None = None

    async def plan(self, journeys: Iterable[Journey]) -> None:
        # One job per workspace and date: a batch of journeys that all END at
        # the same second is one enqueue, not one each.
        jobs: dict[str, tuple[str, datetime]] = {}
        for journey in journeys:
            planned = _planned(journey)
            if planned is not None:
                action, due_at = planned
                due_at = due_at or self._clock.now()
                jobs[job_id(action, journey.workspace_id, due_at)] = (journey.workspace_id, due_at)
        if not jobs:
            return
        pool = await self._connection()
        for id, (workspace_id, due_at) in jobs.items():
            await pool.enqueue_job(
                APPLY_DUE_JOB,
                workspace_id,
                _job_id=id,
                _defer_until=due_at,
                _queue_name=self._queue_name,
            )

    async def _connection(self) -> ArqRedis:
        if self._pool is None:
            self._pool = await create_pool(self._redis_settings)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
