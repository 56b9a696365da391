"""What a process runs beside its main work: the timer loop, the step processor,
the segment loader and the retention of customers' events."""

from __future__ import annotations

from jobs.loading import LoadingLoop
from jobs.loop import Runner
from jobs.processing import ProcessingLoop
from jobs.retention import RetentionLoop
from jobs.timer import TimerLoop
from service.scheduling import EmbeddedScheduler
from service.services import Services
from service.settings import Mode


def runners_for(services: Services) -> list[Runner]:
    """What an API process runs beside serving: in embedded mode, the timer loop, the
    step processor, the segment loader and event retention; nothing in distributed mode,
    where `journeys worker` processes run them (`worker_runners`)."""
    if services.settings.mode is not Mode.EMBEDDED:
        return []
    scheduler = services.scheduler
    assert isinstance(scheduler, EmbeddedScheduler)
    settings = services.settings
    return [
        TimerLoop(services, settings.timer_idle_seconds, scheduler.wakeup),
        ProcessingLoop(services, settings.processing_poll_seconds),
        LoadingLoop(services, settings.processing_poll_seconds),
        RetentionLoop(services),
    ]


def worker_runners(services: Services) -> list[Runner]:
    """What every worker runs beside its arq jobs."""
    settings = services.settings
    return [
        TimerLoop(services, idle_seconds=settings.sweep_seconds),
        ProcessingLoop(services, settings.processing_poll_seconds),
        LoadingLoop(services, settings.processing_poll_seconds),
        RetentionLoop(services),
    ]
