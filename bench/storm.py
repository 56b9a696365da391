"""timer_storm.py's storm: the workers, and N journeys all due to START at the same second.

* `Backend`: where one run's workers and creators meet (its database, its private Redis, a
  queue name of its own, the sweep interval), and the workers' environment from it;
* `start_workers`: `journeys worker` processes on it, each with its own log, waited for
  until one has recorded its health in Redis;
* `create_storm`: the journeys created and ACTIVATEd in this process through the service
  layer (`Services.distributed`, so ACTIVATE goes through the real `ArqScheduler`), all with
  the same `startAt`, picked from a probe of the creation rate (see timer_storm.py).

This module imports the project (timer_storm.py has no peer).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import redis
from harness import JOURNEYS_CLI, REPO, Processes

sys.path.insert(0, str(REPO))  # run as a script: make the project's packages importable

from domain.actions import Action, Role
from domain.content import Content, JourneyKind, Step, StepType
from service.services import Services
from service.settings import Settings
from service.tokens import Principal

PROBE_WORKSPACE = "storm-probe"


@dataclass(frozen=True)
class Backend:
    database_url: str
    redis_url: str
    queue: str
    sweep_seconds: int

    def env(self) -> dict[str, str]:
        """The workers' environment: this one's, without any other JOURNEYS_ or DATABASE_."""
        skipped = ("JOURNEYS_", "DATABASE_")
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(skipped)},
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "JOURNEYS_QUEUE_NAME": self.queue,
            "JOURNEYS_SWEEP_SECONDS": str(self.sweep_seconds),
            "PYTHONUNBUFFERED": "1",
        }


def queued(client: redis.Redis, queue: str) -> int:
    """Jobs waiting in an arq queue (a sorted set)."""
    return int(cast(int, client.zcard(queue)))


def start_workers(
    processes: Processes, kind: str, backend: Backend, logs: list[Path], client: redis.Redis
) -> None:
    """One `journeys worker` per log; returns once one has recorded its health."""
    for n, log in enumerate(logs):
        command = [str(JOURNEYS_CLI), "worker"]
        processes.start(f"worker-{kind}-{n + 1}", command, backend.env(), log)
    health_key = f"{backend.queue}:health-check"
    deadline = time.monotonic() + 30
    while not client.exists(health_key):
        processes.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("no worker recorded its health within 30 s")
        time.sleep(0.1)


async def create_storm(
    backend: Backend, workspaces: list[str], journeys: int, *, concurrency: int, lead: float
) -> tuple[datetime, float, bool]:
    """Create and ACTIVATE the journeys; returns (due second, creation seconds, overran)."""
    settings = Settings(
        mutation_rate_limit="",
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        sweep_seconds=backend.sweep_seconds,
        queue_name=backend.queue,
    )
    services = Services.distributed(settings)
    try:
        principals: dict[str, Principal] = {}
        for workspace in [PROBE_WORKSPACE, *workspaces]:
            token = await services.tokens.create(workspace, Role.EDITOR, name="storm-bench")
            principals[workspace] = await services.tokens.authenticate(f"Bearer {token}")
        gate = asyncio.Semaphore(concurrency)

        async def one(principal: Principal, number: int, start_at: datetime) -> None:
            async with gate:
                content = Content(
                    steps=(Step(StepType.WAIT, seconds=60),),
                    start_at=start_at,
                    trigger_event="storm",
                )
                journey = await services.commands.create(
                    principal,
                    name=f"storm {number}",
                    kind=JourneyKind.EVENT_TRIGGERED,
                    content=content,
                )
                await services.commands.take(principal, journey.id, Action.ACTIVATE)

        # Probe: how fast do we create? Due in a day, in its own workspace: never fires.
        probe_count = min(200, max(20, journeys // 20))
        far = datetime.now(UTC) + timedelta(days=1)
        began = time.monotonic()
        await asyncio.gather(
            *(one(principals[PROBE_WORKSPACE], n, far) for n in range(probe_count))
        )
        per_journey = (time.monotonic() - began) / probe_count
        estimate = per_journey * journeys * 1.25
        due = datetime.now(UTC) + timedelta(seconds=estimate + lead)
        due = due.replace(microsecond=0) + timedelta(seconds=1)
        print(
            f"  probe: {probe_count} journeys at {1 / per_journey:.0f}/s; "
            f"estimate {estimate:.1f} s for {journeys}; due second {due:%H:%M:%S}",
            flush=True,
        )

        began = time.monotonic()
        await asyncio.gather(
            *(one(principals[workspaces[n % len(workspaces)]], n, due) for n in range(journeys))
        )
        created = time.monotonic() - began
        # The flush run empties Redis one second before the due second: creation must be done.
        overran = datetime.now(UTC) > due - timedelta(seconds=1.5)
        return due, created, overran
    finally:
        await services.close()
