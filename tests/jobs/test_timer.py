"""The timer loop applies a date that falls due while a pass is under way: the clock
may move between the pass's reads (a slow pass, or a test moving its clock)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.actions import Action
from domain.content import Content, JourneyKind
from domain.statuses import Status
from jobs.timer import TimerLoop
from service.clock import ManualClock
from service.services import Services
from tests.conftest import T0, Callers
from tests.service.test_audience import OFFER

pytestmark = pytest.mark.anyio


async def test_a_date_reached_during_a_pass_is_applied_by_the_next(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await services.commands.create(
        callers.editor,
        name="Timed",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=(OFFER,), trigger_event="signup", start_at=T0 + timedelta(minutes=1)),
    )
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    apply_all_due = services.commands.apply_all_due

    async def a_pass_during_which_the_date_passes(**options: object) -> int:
        applied = await apply_all_due(**options)  # type: ignore[arg-type]
        clock.advance(minutes=1, seconds=2)  # after the pass read what was due
        services.commands.apply_all_due = apply_all_due  # type: ignore[method-assign]
        return applied

    services.commands.apply_all_due = a_pass_during_which_the_date_passes  # type: ignore[method-assign]
    loop = TimerLoop(services, idle_seconds=5)
    running = asyncio.create_task(loop.run())

    async def started() -> None:
        while (found := await services.reads.journey("acme", journey.id)) is None or (
            found.status is not Status.ACTIVE
        ):
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(started(), timeout=30)  # a hang guard, not a timing goal
    finally:
        loop.stop()
        await running
