"""Status-log retention: `LogRetention.prune` deletes old events, records
`pruned_through`, and reads after a deleted sequence are refused with
REPLAY_UNAVAILABLE, never answered with a gap. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from graphql import GraphQLError

from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType
from domain.errors import ReplayUnavailable, ValidationFailed
from domain.journey import Journey
from domain.statuses import Status
from gql.errors import give_code
from service.clock import ManualClock
from service.retention import LogRetention
from service.services import Services
from service.tokens import Principal
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

CONTENT = Content(steps=(Step(StepType.SEND, channel="log", template="t"),), trigger_event="e")
MONTH = timedelta(days=30)
TOGGLE = {Action.PAUSE: Action.RESUME, Action.RESUME: Action.PAUSE}


async def active_journey(services: Services, who: Principal, name: str = "J") -> Journey:
    journey = await services.commands.create(
        who, name=name, kind=JourneyKind.EVENT_TRIGGERED, content=CONTENT
    )
    return await services.commands.take(who, journey.id, Action.ACTIVATE)


async def toggle(services: Services, who: Principal, journey_id: str, times: int) -> None:
    """Pause and resume in turn, `times` status events; ends ACTIVE when `times` is even."""
    action = Action.PAUSE
    for _ in range(times):
        await services.commands.take(who, journey_id, action)
        action = TOGGLE[action]


async def sequences(services: Services, workspace: str, journey_id: str | None = None) -> list[int]:
    events = await services.reads.status_events(workspace, journey_id=journey_id, first=100)
    return [event.sequence for event in events]


def retention(services: Services, batch_size: int = LogRetention.BATCH_SIZE) -> LogRetention:
    return LogRetention(services.database, services.clock, batch_size=batch_size)


async def test_pruning_deletes_old_events_only_and_records_how_far(
    services: Services, callers: Callers, clock: ManualClock
):
    old = await active_journey(services, callers.editor, "old")
    await toggle(services, callers.editor, old.id, 4)  # sequences 1..5, at T0
    clock.advance(days=10)
    await toggle(services, callers.editor, old.id, 2)  # 6..7, at T0 + 10 d
    newer = await active_journey(services, callers.editor, "newer")  # 8
    await active_journey(services, callers.outsider, "theirs")  # workspace `other`: 1, at T0 + 10 d
    clock.advance(days=25)  # cutoff = T0 + 5 d

    report = await retention(services, batch_size=2).prune(MONTH)

    assert report.cutoff == T0 + timedelta(days=5)
    by_workspace = {w.workspace_id: w for w in report.workspaces}
    assert (by_workspace["acme"].deleted, by_workspace["acme"].pruned_through) == (5, 5)
    assert (by_workspace["other"].deleted, by_workspace["other"].pruned_through) == (0, 0)
    assert report.deleted == 5
    assert await sequences(services, "acme") == [6, 7, 8]
    assert await sequences(services, "other") == [1]
    assert await services.reads.pruned_through("acme") == 5
    assert await services.reads.pruned_through("other") == 0
    # The sequence counter is untouched: the next event is 9.
    assert await services.reads.last_sequence("acme") == 8
    await services.commands.take(callers.editor, newer.id, Action.PAUSE)
    assert (await sequences(services, "acme"))[-1] == 9

    # Again, a week later: the events of T0 + 10 d are now old too.
    clock.advance(days=7)
    again = await retention(services).prune(MONTH)
    assert {w.workspace_id: (w.deleted, w.pruned_through) for w in again.workspaces} == {
        "acme": (3, 8),
        "other": (1, 1),
    }
    assert await sequences(services, "acme") == [9]
    # Nothing more to do: harmless.
    third = await retention(services).prune(MONTH)
    assert third.deleted == 0 and await services.reads.pruned_through("acme") == 8


async def test_a_replay_from_before_the_cut_is_refused(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await active_journey(services, callers.editor)
    await toggle(services, callers.editor, journey.id, 4)  # 1..5, old
    clock.advance(days=40)
    await toggle(services, callers.editor, journey.id, 2)  # 6..7, kept
    await retention(services).prune(MONTH)
    assert await services.reads.pruned_through("acme") == 5

    for after in (0, 3, 4):
        with pytest.raises(ReplayUnavailable) as refused:
            await services.reads.status_events("acme", after=after)
        assert refused.value.code == "REPLAY_UNAVAILABLE"
        assert refused.value.pruned_through == 5
        assert "events up to sequence 5 were removed" in refused.value.message
        assert "`after` ≥ 5" in refused.value.message
        # The same for this journey: it lost events.
        with pytest.raises(ReplayUnavailable):
            await services.reads.status_events("acme", journey_id=journey.id, after=after)

    assert [e.sequence for e in await services.reads.status_events("acme", after=5)] == [6, 7]
    assert [e.sequence for e in await services.reads.status_events("acme", after=6)] == [7]
    assert await services.reads.status_events("acme", after=7) == []
    assert await services.reads.status_events("acme", after=99) == []
    assert await sequences(services, "acme", journey.id) == [6, 7]
    # `after` None: what the log keeps, from its oldest kept event.
    assert await sequences(services, "acme") == [6, 7]
    # Another workspace's cut is not ours.
    assert await services.reads.status_events("other", after=0) == []


async def test_a_journey_that_lost_nothing_replays_from_anywhere(
    services: Services, callers: Callers, clock: ManualClock
):
    old = await active_journey(services, callers.editor, "old")  # 1, pruned
    clock.advance(days=40)
    young = await active_journey(services, callers.editor, "young")  # 2
    await toggle(services, callers.editor, young.id, 1)  # 3
    drafting = await services.commands.create(
        callers.editor, name="draft", kind=JourneyKind.EVENT_TRIGGERED, content=CONTENT
    )
    await toggle(services, callers.editor, old.id, 1)  # 4
    await retention(services).prune(MONTH)
    assert await services.reads.pruned_through("acme") == 1

    events = await services.reads.status_events("acme", journey_id=young.id, after=0)
    assert [(e.sequence, e.change.previous_status) for e in events] == [
        (2, Status.DESIGNING),
        (3, Status.ACTIVE),
    ]
    assert await services.reads.status_events("acme", journey_id=drafting.id, after=0) == []
    assert await services.reads.status_events("acme", journey_id="no-such-id", after=0) == []
    with pytest.raises(ReplayUnavailable):
        await services.reads.status_events("acme", journey_id=old.id, after=0)
    assert [
        e.sequence for e in await services.reads.status_events("acme", journey_id=old.id, after=1)
    ] == [4]


async def test_pruning_stops_at_the_first_recent_event(
    services: Services, callers: Callers, clock: ManualClock
):
    # Event times come from the clock when the command ran; numbers are drawn
    # at commit. Should a recent event be numbered before an old one, the cut
    # stops there: the log stays one unbroken run of numbers.
    journey = await active_journey(services, callers.editor)  # 1, old
    clock.advance(days=40)
    await toggle(services, callers.editor, journey.id, 1)  # 2, recent
    clock.set(T0)
    await services.commands.take(callers.editor, journey.id, Action.RESUME)  # 3, dated T0
    clock.set(T0 + timedelta(days=40))

    report = await retention(services).prune(MONTH)
    assert report.deleted == 1 and await sequences(services, "acme") == [2, 3]


async def test_history_is_shorter_after_pruning(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await active_journey(services, callers.editor)
    await toggle(services, callers.editor, journey.id, 2)
    clock.advance(days=40)
    await toggle(services, callers.editor, journey.id, 1)
    before = (await services.reads.histories("acme", [journey.id], 100))[journey.id]
    assert [e.sequence for e in before] == [1, 2, 3, 4]

    await retention(services).prune(MONTH)
    after = (await services.reads.histories("acme", [journey.id], 100))[journey.id]
    assert [e.sequence for e in after] == [4]


async def test_an_empty_log_and_a_bad_period(services: Services, callers: Callers):
    report = await retention(services).prune(MONTH)
    assert report.deleted == 0
    assert {w.workspace_id for w in report.workspaces} == {"acme", "other"}
    for period in (timedelta(0), timedelta(days=-1)):
        with pytest.raises(ValidationFailed):
            await retention(services).prune(period)
    with pytest.raises(ValueError):
        LogRetention(services.database, services.clock, batch_size=0)


async def test_the_api_shows_the_code_and_how_far_the_log_was_cut():
    error = GraphQLError("boom", original_error=ReplayUnavailable("gone", pruned_through=1234))
    give_code(error)
    assert error.message == "gone"
    assert error.extensions == {"code": "REPLAY_UNAVAILABLE", "prunedThrough": 1234}


async def test_pruning_while_commands_append_loses_and_repeats_no_number(
    services: Services, callers: Callers, clock: ManualClock
):
    # The PostgreSQL run is the one that matters: there, appends and prune
    # batches really run at once (SQLite has one writer). The clock moves a
    # day per pruning pass, so the cut keeps catching up with the appends:
    # deletions at the log's head while commands append at its tail.
    journeys = [await active_journey(services, callers.editor, f"J{i}") for i in range(6)]
    done = asyncio.Event()

    async def writer(journey_id: str, seed: int) -> int:
        chooser, action = random.Random(seed), Action.PAUSE
        for _ in range(20):
            await services.commands.take(callers.editor, journey_id, action)
            action = TOGGLE[action]
            await asyncio.sleep(chooser.random() / 1000)
        return 20

    async def pruner() -> tuple[int, int]:
        deleted = passes = 0
        while not done.is_set():
            clock.advance(days=1)
            deleted += (await retention(services, batch_size=2).prune(timedelta(days=3))).deleted
            passes += 1
            await asyncio.sleep(0.002)
        return deleted, passes

    async def reader() -> tuple[list[int], list[tuple[int, int]]]:
        """What a resuming client gets: events in order, and gaps only when told."""
        seen: list[int] = []
        told: list[tuple[int, int]] = []
        last = 0
        while True:
            finished = done.is_set()
            try:
                page = await services.reads.status_events("acme", after=last, first=1)
            except ReplayUnavailable as refused:
                told.append((last, refused.pruned_through))
                last = refused.pruned_through
                continue
            for event in page:
                assert event.sequence == last + 1, (last, event.sequence)
                seen.append(event.sequence)
                last = event.sequence
            if finished and not page:
                return seen, told
            # Slow while commands run, so that the cut overtakes it at times.
            await asyncio.sleep(0 if finished else 0.1)

    pruning = asyncio.create_task(pruner())
    reading = asyncio.create_task(reader())
    written = await asyncio.gather(*(writer(j.id, seed) for seed, j in enumerate(journeys)))
    done.set()
    deleted, passes = await pruning
    seen, told = await reading
    assert passes > 1 and deleted > 0  # the cut moved while commands appended
    cut = await services.reads.pruned_through("acme")
    kept = await services.reads.status_events("acme", after=cut, first=1000)
    assert [e.sequence for e in kept] == list(range(cut + 1, cut + 1 + len(kept)))
    clock.advance(days=10)
    deleted += (await retention(services).prune(timedelta(days=3))).deleted

    total = len(journeys) + sum(written)
    # Every number handed out once, in order; every one of them deleted once.
    assert await services.reads.last_sequence("acme") == total
    assert await services.reads.pruned_through("acme") == total == deleted
    assert await services.reads.status_events("acme") == []
    # The reader saw each number at most once, in order, and every number it
    # did not see lies in a gap it was told about.
    assert seen == sorted(set(seen))
    missing = set(range(1, total + 1)) - set(seen)
    assert all(any(start < n <= end for start, end in told) for n in missing)
