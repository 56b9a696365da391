"""The arq worker (`journeys worker`): timed transitions in distributed mode.

Three ways in, one rule: `apply_due_transitions` is the prompt path (a deferred
job per workspace and planned date); the worker's timer loop (jobs/timer.py) wakes at the
next date it reads from the database, so it is prompt too when Redis lost the jobs; `sweep`
is the certain path (a cron job, and a pass at start, that recomputes every due transition
from the database). All end in `JourneyCommands.apply_all_due`, which locks due
journeys (skipping rows another transaction holds), applies what is still due, and
commits in batches, so a transition happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings
from arq.worker import Worker, check_health, create_worker
from prometheus_client import start_http_server

from jobs.runners import worker_runners
from service.scheduling import APPLY_DUE_JOB
from service.services import Services
from service.settings import Mode, Settings, SettingsError

log = logging.getLogger(__name__)

Context = dict[str, Any]


async def apply_due_transitions(ctx: Context, workspace_id: str) -> int:
    """The prompt path: at a planned date, apply what is due in that workspace."""
    services: Services = ctx["services"]
    return await services.metrics.job("apply_due", services.commands.apply_all_due(workspace_id))


async def sweep(ctx: Context) -> int:
    services: Services = ctx["services"]
    moved = await services.metrics.job("sweep", services.commands.apply_all_due())
    if moved:
        log.info("sweep moved %d late journeys", moved)
    return moved


async def startup(ctx: Context) -> None:
    settings: Settings = ctx["settings"]
    services = Services.distributed(settings)
    ctx["services"] = services
    if settings.metrics_port is not None:
        # A worker serves no HTTP otherwise: its figures get a port of their own.
        start_http_server(settings.metrics_port, registry=services.metrics.registry)
    await services.start()  # hear announcements: work for the step processor
    await sweep(ctx)  # whatever fell due while no worker ran
    # The worker's own clock on the database's dates (prompt even after Redis
    # lost the deferred jobs, and shared by every worker when a storm is due),
    # and its step processor.
    ctx["runners"] = [asyncio.create_task(runner.run()) for runner in worker_runners(services)]


async def shutdown(ctx: Context) -> None:
    for runner in ctx.get("runners", []):
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    services: Services | None = ctx.get("services")
    if services is not None:
        await services.close()


def worker_settings(settings: Settings) -> type:
    """arq's WorkerSettings, built from our settings (read once at start)."""
    if settings.mode is not Mode.DISTRIBUTED or settings.redis_url is None:
        raise SettingsError(
            "`journeys worker` runs in distributed mode: set DATABASE_URL=postgresql://... "
            "and REDIS_URL=redis://..."
        )
    options = {
        "functions": [func(apply_due_transitions, name=APPLY_DUE_JOB)],
        "cron_jobs": [
            cron(
                sweep,
                second=set(range(0, 60, settings.sweep_seconds)),
                run_at_startup=False,
                unique=True,
                timeout=60,
            )
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.queue_name,
        "health_check_key": f"{settings.queue_name}:health-check",
        "health_check_interval": 5,
        "max_jobs": 50,
        "poll_delay": 0.1,
        # Nothing reads job results; keeping none also lets a date planned
        # again later get a prompt job under the same id.
        "keep_result": 0,
        "ctx": {"settings": settings},
    }
    return type("WorkerSettings", (), options)


def make_worker(settings: Settings) -> Worker:
    return create_worker(worker_settings(settings))


def worker_is_healthy(settings: Settings) -> bool:
    """True when a worker on this queue wrote its health sentinel lately."""
    return check_health(worker_settings(settings)) == 0
