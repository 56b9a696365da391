"""The set-based timer path applies exactly what the per-journey domain rule would.

A mixed batch: due STARTs, a START whose END is also past, a due END, a
start date moved later, a frozen and an aborted journey, a paused one past
its end. The expectation is computed journey by journey with
`Journey.take_due` on copies read before the sweep; the sweep must leave the
same statuses, revisions and events, in batches smaller than the set.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.actions import Action, ActorKind
from domain.content import Content, JourneyKind, Step, StepType
from domain.journey import Journey
from domain.statuses import Status
from service import commands
from service.clock import ManualClock
from service.services import Services
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

SEND = Step(StepType.SEND, channel="log", template="welcome")
HOUR = timedelta(hours=1)


async def scheduled(
    services: Services, callers: Callers, start: timedelta, end: timedelta | None = None
) -> Journey:
    content = Content(
        steps=(SEND,),
        trigger_event="signup",
        start_at=T0 + start,
        end_at=T0 + end if end else None,
    )
    journey = await services.commands.create(
        callers.editor, name="Timed", kind=JourneyKind.EVENT_TRIGGERED, content=content
    )
    return await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)


async def test_the_batch_moves_what_the_domain_rule_moves(
    services: Services, callers: Callers, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
):
    editor = callers.editor
    starts = [await scheduled(services, callers, HOUR) for _ in range(4)]
    start_and_end = await scheduled(services, callers, HOUR, end=2 * HOUR)
    moved = await scheduled(services, callers, HOUR)
    await services.commands.update(editor, moved.id, {"start_at": T0 + 10 * HOUR})
    frozen = await scheduled(services, callers, HOUR)
    await services.commands.take(editor, frozen.id, Action.FREEZE)
    aborted = await scheduled(services, callers, HOUR)
    await services.commands.take(editor, aborted.id, Action.ABORT)
    ending = await services.commands.create(
        editor,
        name="Ends",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=(SEND,), trigger_event="signup", end_at=T0 + 2 * HOUR),
    )
    await services.commands.take(editor, ending.id, Action.ACTIVATE)
    paused = await services.commands.create(
        editor,
        name="Paused",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=(SEND,), trigger_event="signup", end_at=T0 + 2 * HOUR),
    )
    await services.commands.take(editor, paused.id, Action.ACTIVATE)
    await services.commands.take(editor, paused.id, Action.PAUSE)
    everyone = [*starts, start_and_end, moved, frozen, aborted, ending, paused]
    ids = [journey.id for journey in everyone]

    clock.advance(hours=3)
    before = await services.reads.journeys_by_id("acme", ids)
    log_before = await services.reads.status_events("acme", first=100)
    expected = {}
    for journey_id, journey in before.items():
        changes = journey.take_due(clock.now())
        expected[journey_id] = (
            journey.status,
            journey.revision,
            [(c.previous_status, c.status, c.action) for c in changes],
        )

    monkeypatch.setattr(commands, "SWEEP_BATCH", 3)
    moved_count = await services.commands.apply_all_due()

    after = await services.reads.journeys_by_id("acme", ids)
    new_events = await services.reads.status_events(
        "acme", after=log_before[-1].sequence, first=100
    )
    assert moved_count == sum(1 for _, _, changes in expected.values() if changes)
    for journey_id, (status, revision, changes) in expected.items():
        assert (after[journey_id].status, after[journey_id].revision) == (status, revision)
        logged = [
            (e.change.previous_status, e.change.status, e.change.action)
            for e in new_events
            if e.change.journey_id == journey_id
        ]
        assert logged == changes
    assert {e.change.actor.kind for e in new_events} == {ActorKind.SYSTEM}
    assert [e.sequence for e in new_events] == list(
        range(log_before[-1].sequence + 1, log_before[-1].sequence + 1 + len(new_events))
    )
    # The cases the batch covers, spelled out so the expectation is not vacuous.
    assert {after[j.id].status for j in starts} == {Status.ACTIVE}
    assert after[start_and_end.id].status is Status.CLOSED
    assert after[ending.id].status is Status.CLOSED
    assert after[moved.id].status is Status.SCHEDULED
    assert after[frozen.id].status is Status.FROZEN
    assert after[aborted.id].status is Status.ABORTED
    assert after[paused.id].status is Status.PAUSED
    assert await services.commands.apply_all_due() == 0  # nothing is applied twice
