"""Sequences follow commit order: a reader that resumes after N never misses a
lower number committed later. Checked under concurrent commits on a real
database (the PostgreSQL run is the one that matters: SQLite has one writer)."""

from __future__ import annotations

import asyncio
import random

import pytest

from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType
from domain.errors import TransitionNotAllowed
from service.services import Services
from tests.conftest import Callers

pytestmark = pytest.mark.anyio

TOGGLE = {Action.PAUSE: Action.RESUME, Action.RESUME: Action.PAUSE}


async def test_a_resuming_reader_never_misses_an_event(services: Services, callers: Callers):
    content = Content(steps=(Step(StepType.SEND, channel="log", template="t"),), trigger_event="e")
    ids = []
    for index in range(12):
        journey = await services.commands.create(
            callers.editor, name=f"J{index}", kind=JourneyKind.EVENT_TRIGGERED, content=content
        )
        await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
        ids.append(journey.id)
    base = len(ids)
    done = asyncio.Event()

    async def writer(journey_id: str, seed: int) -> int:
        chooser, action, applied = random.Random(seed), Action.PAUSE, 0
        for _ in range(15):
            try:
                await services.commands.take(callers.editor, journey_id, action)
                action, applied = TOGGLE[action], applied + 1
            except TransitionNotAllowed:
                pass
            await asyncio.sleep(chooser.random() / 1000)
        return applied

    async def reader() -> list[int]:
        seen: list[int] = []
        last = base
        while True:
            finished = done.is_set()
            for event in await services.reads.status_events("acme", after=last, first=100):
                # Each read continues exactly where the previous one stopped.
                assert event.sequence == last + 1, (last, event.sequence)
                seen.append(event.sequence)
                last = event.sequence
            if finished:
                return seen
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    applied = await asyncio.gather(*(writer(j, seed) for seed, j in enumerate(ids)))
    done.set()
    seen = await reading
    assert seen == list(range(base + 1, base + 1 + sum(applied)))
