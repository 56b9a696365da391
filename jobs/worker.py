"""The arq worker (`journeys worker`): timed transitions in distributed mode.

Three ways in, one rule: `apply_due_transitions` is the prompt path (a deferred
job per workspace and planned date); the worker's timer loop (jobs/timer.py) wakes at the
next date it reads from the database, so it is prompt too when Redis lost the jobs; `sweep`
is the certain path (a cron job, and a pass at start, that recomputes every due transition
from the database). All end in `JourneyCommands.apply_all_due`, which locks due
journeys (skipping rows another transaction holds), applies what is still due, and
commits in batches, so a transition happens once.

Stopping (SIGTERM or SIGINT): the worker takes no new job and no new batch; a
batch under way finishes and commits, then the database and Redis connections
close and the process exits 0. Whatever is still under way STOP_SECONDS after
the signal is cancelled: its transaction is rolled back and another worker does
it again (every batch is recomputed from the database), and a message handed
over whose outcome was not recorded goes again once its lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings
from arq.worker import Worker, check_health
from prometheus_client import start_http_server

from jobs.runners import worker_runners
from service.scheduling import APPLY_DUE_JOB
from service.services import Services
from service.settings import Mode, Settings, SettingsError
from service.stopping import STOP_SECONDS, stop_all

log = logging.getLogger(__name__)

Context = dict[str, Any]


async def apply_due_transitions(ctx: Context, workspace_id: str) -> int:
    """The prompt path: at a planned date, apply what is due in that workspace."""
    services: Services = ctx["services"]
    return await services.metrics.job(
        "apply_due", services.commands.apply_all_due(workspace_id, ctx["stopping"])
    )


async def sweep(ctx: Context) -> int:
    services: Services = ctx["services"]
    moved = await services.metrics.job(
        "sweep", services.commands.apply_all_due(stopping=ctx["stopping"])
    )
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
    ctx["loops"] = loops = worker_runners(services)
    ctx["runners"] = [asyncio.create_task(loop.run()) for loop in loops]


def begin_stopping(ctx: Context) -> None:
    """No new job or batch from now on; those under way get until the deadline."""
    if "stop_deadline" not in ctx:
        ctx["stop_deadline"] = asyncio.get_running_loop().time() + STOP_SECONDS
        log.info("stopping: no new batches; those under way get %d s to finish", STOP_SECONDS)
    ctx["stopping"].set()
    for loop in ctx.get("loops", []):
        loop.stop()


async def shutdown(ctx: Context) -> None:
    """arq's last step before it closes its Redis pool: the loops end (cancelled if
    they overrun the deadline), then our connections close."""
    begin_stopping(ctx)
    left = ctx["stop_deadline"] - asyncio.get_running_loop().time()
    overdue = await stop_all(ctx.get("loops", []), ctx.get("runners", []), left)
    if overdue:
        ctx["cut_off"] = True
        log.warning(
            "stopping: %d loop(s) still busy %d s after the signal were cancelled; "
            "their uncommitted batches were rolled back, for another worker to do again",
            overdue,
            STOP_SECONDS,
        )
    services: Services | None = ctx.get("services")
    if services is not None:
        await services.close()


class JourneysWorker(Worker):
    """arq's worker, whose SIGTERM and SIGINT also stop our loops at once.

    arq's own handler (`job_completion_wait`) stops picking jobs and lets those
    running finish, up to STOP_SECONDS, before it cancels them and shuts down;
    without this override our loops would go on taking batches all that time."""

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        begin_stopping(self.ctx)
        super().handle_sig_wait_for_completion(signum)


def worker_options(settings: Settings) -> dict[str, Any]:
    """arq's Worker arguments, built from our settings (read once at start)."""
    if settings.mode is not Mode.DISTRIBUTED or settings.redis_url is None:
        raise SettingsError(
            "`journeys worker` runs in distributed mode: set DATABASE_URL=postgresql://... "
            "and REDIS_URL=redis://..."
        )
    return {
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
        "job_completion_wait": STOP_SECONDS,
        "ctx": {"settings": settings, "stopping": asyncio.Event()},
    }


def make_worker(settings: Settings) -> JourneysWorker:
    return JourneysWorker(**worker_options(settings))


def run(settings: Settings) -> None:
    """Run a worker until SIGTERM or SIGINT, and say how it stopped."""
    worker = make_worker(settings)
    worker.run()
    if worker.ctx.get("cut_off"):
        log.warning("worker stopped; batches cut off were rolled back; connections closed")
    else:
        log.info("worker stopped cleanly: every batch under way finished; connections closed")


def worker_is_healthy(settings: Settings) -> bool:
    """True when a worker on this queue wrote its health sentinel lately."""
    return check_health(worker_options(settings)) == 0
