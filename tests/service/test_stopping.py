"""A process stopping: each kind of batched work ends after the batch under way
and leaves the rest due (SQLite and PostgreSQL). What a stopped worker does with
that is tests/distributed/test_worker_shutdown.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

import service.commands
import service.processing
import service.segments
from domain.actions import Action
from domain.content import Content, JourneyKind
from domain.statuses import Status
from service.clock import ManualClock
from service.services import Services
from store.unit_of_work import in_unit_of_work
from tests.conftest import T0, Callers
from tests.service.test_audience import OFFER, counters, running
from tests.service.test_segments import segment

pytestmark = pytest.mark.anyio

T = TypeVar("T")
HOUR = timedelta(hours=1)


def then_stop(
    batch: Callable[[], Awaitable[T]], stopping: asyncio.Event
) -> Callable[[], Awaitable[T]]:
    """`batch`, which also asks to stop while it is under way."""

    async def batch_then_stop() -> T:
        stopping.set()
        return await batch()

    return batch_then_stop


async def test_the_processor_finishes_the_batch_under_way_and_takes_no_other(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service.processing, "STEP_BATCH", 2)
    journey = await running(services, callers, OFFER)
    await services.entry.enroll(callers.editor, journey.id, [f"c{i}" for i in range(5)])
    stopping = asyncio.Event()
    processing = services.processing
    monkeypatch.setattr(processing, "advance", then_stop(processing.advance, stopping))

    assert await processing.run_all(stopping) == 2
    assert (await counters(services, journey)).delivered == 2
    assert await processing.run_all(stopping) == 0  # asked to stop before any batch

    assert await processing.run_all() == 3  # the rest was still due
    assert (await counters(services, journey)).delivered == 5


async def test_the_loader_finishes_the_batch_under_way_and_takes_no_other(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service.segments, "LOAD_BATCH", 2)
    journey = await segment(services, callers, [f"may-{i}" for i in range(5)])
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    stopping = asyncio.Event()
    loading = services.loading
    monkeypatch.setattr(loading, "load_batch", then_stop(loading.load_batch, stopping))

    assert await loading.run_all(stopping) == 2
    assert (await counters(services, journey)).entered == 2
    assert await loading.run_all() == 3  # from where the load's cursor stopped


async def test_a_sweep_finishes_the_batch_under_way_and_takes_no_other(
    services: Services, callers: Callers, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service.commands, "SWEEP_BATCH", 2)
    ids: list[str] = []
    for _ in range(5):
        journey = await services.commands.create(
            callers.editor,
            name="Timed",
            kind=JourneyKind.EVENT_TRIGGERED,
            content=Content(steps=(OFFER,), trigger_event="signup", start_at=T0 + HOUR),
        )
        await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
        ids.append(journey.id)
    clock.advance(hours=1)

    async def statuses() -> Counter[Status]:
        found = [await services.reads.journey("acme", journey_id) for journey_id in ids]
        return Counter(journey.status for journey in found if journey is not None)

    stopping = asyncio.Event()
    stopping.set()
    assert await services.commands.apply_all_due(stopping=stopping) == 0
    stopping.clear()

    async def batch_then_stop(*args: Any) -> Any:
        stopping.set()
        return await in_unit_of_work(*args)

    monkeypatch.setattr(service.commands, "in_unit_of_work", batch_then_stop)
    assert await services.commands.apply_all_due(stopping=stopping) == 2
    assert await statuses() == {Status.SCHEDULED: 3, Status.ACTIVE: 2}
    assert await services.commands.apply_all_due() == 3
    assert await statuses() == {Status.ACTIVE: 5}
