"""The use cases against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType
from domain.errors import (
    Forbidden,
    NotFound,
    RevisionConflict,
    TransitionNotAllowed,
    ValidationFailed,
)
from domain.journey import replay
from domain.statuses import Status
from service.clock import ManualClock
from service.reads import JourneyFilter
from service.services import Services
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

SEND = Step(StepType.SEND, channel="log", template="welcome")


def ready(**changes: object) -> Content:
    content = Content(steps=(SEND,), trigger_event="signup")
    return Content(**{**content.__dict__, **changes})  # type: ignore[arg-type]


async def new_journey(services: Services, callers: Callers, **content: object):
    return await services.commands.create(
        callers.editor, name="Welcome", kind=JourneyKind.EVENT_TRIGGERED, content=ready(**content)
    )


async def log_of(services: Services, workspace: str, journey_id: str | None = None):
    return await services.reads.status_events(workspace, journey_id=journey_id, first=100)


async def test_a_journey_walks_from_designing_to_closed(services: Services, callers: Callers):
    journey = await new_journey(services, callers)
    assert journey.status is Status.DESIGNING and journey.revision == 1

    for action, expected in [
        (Action.ACTIVATE, Status.ACTIVE),
        (Action.PAUSE, Status.PAUSED),
        (Action.RESUME, Status.ACTIVE),
        (Action.CLOSE, Status.CLOSED),
    ]:
        journey = await services.commands.take(callers.editor, journey.id, action)
        assert journey.status is expected

    stored = await services.reads.journey("acme", journey.id)
    assert stored is not None and stored.status is Status.CLOSED and stored.revision == 5
    events = await log_of(services, "acme", journey.id)
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    assert replay(e.change for e in events) is Status.CLOSED
    assert {e.change.actor.name for e in events} == {"eddie"}


async def test_a_refusal_changes_nothing(services: Services, callers: Callers):
    journey = await new_journey(services, callers)
    refusals = [
        (callers.editor, Action.PAUSE, TransitionNotAllowed),
        (callers.viewer, Action.ACTIVATE, Forbidden),
        (callers.editor, Action.FAIL, Forbidden),
    ]
    for principal, action, error in refusals:
        with pytest.raises(error):
            await services.commands.take(principal, journey.id, action)
    with pytest.raises(RevisionConflict):
        await services.commands.take(
            callers.editor, journey.id, Action.ACTIVATE, expected_revision=9
        )
    with pytest.raises(ValidationFailed):
        await services.commands.update(
            callers.editor, journey.id, {"start_at": T0 + timedelta(2), "end_at": T0 + timedelta(1)}
        )
    with pytest.raises(ValidationFailed):
        await services.commands.rename(callers.editor, journey.id, "x" * 201)

    stored = await services.reads.journey("acme", journey.id)
    assert stored is not None and stored.revision == 1 and stored.status is Status.DESIGNING
    assert await log_of(services, "acme") == []


async def test_another_workspace_sees_nothing(services: Services, callers: Callers):
    journey = await new_journey(services, callers)
    assert await services.reads.journey("other", journey.id) is None
    with pytest.raises(NotFound):
        await services.commands.take(callers.outsider, journey.id, Action.ACTIVATE)
    with pytest.raises(NotFound):
        await services.commands.copy(callers.outsider, journey.id, None)
    with pytest.raises(NotFound):
        await services.commands.restore_version(callers.outsider, journey.id, 1)
    page = await services.reads.page("other", JourneyFilter(), 10, None)
    assert page.total_count == 0


async def test_scheduled_journey_starts_and_ends_once(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await new_journey(
        services, callers, start_at=T0 + timedelta(minutes=1), end_at=T0 + timedelta(hours=1)
    )
    journey = await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    assert journey.status is Status.SCHEDULED
    assert await services.reads.next_due_at() == T0 + timedelta(minutes=1)
    assert await services.commands.apply_all_due() == 0

    clock.advance(seconds=60)
    assert await services.commands.apply_all_due() == 1
    assert await services.commands.apply_all_due() == 0  # never twice
    assert await services.commands.apply_all_due("acme") == 0  # the workspace job, too
    assert await services.reads.next_due_at() == T0 + timedelta(hours=1)

    clock.advance(hours=2)
    assert await services.commands.apply_all_due() == 1
    events = await log_of(services, "acme", journey.id)
    assert [(e.change.action, e.change.status, e.change.actor.name) for e in events] == [
        (Action.ACTIVATE, Status.SCHEDULED, "eddie"),
        (Action.START, Status.ACTIVE, "system"),
        (Action.END, Status.CLOSED, "system"),
    ]


async def test_late_sweep_applies_start_then_end(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await new_journey(
        services, callers, start_at=T0 + timedelta(minutes=1), end_at=T0 + timedelta(minutes=2)
    )
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    clock.advance(minutes=10)  # the server was down through both dates
    assert await services.commands.apply_all_due() == 1
    stored = await services.reads.journey("acme", journey.id)
    assert stored is not None and stored.status is Status.CLOSED
    events = await log_of(services, "acme", journey.id)
    assert [e.change.action for e in events] == [Action.ACTIVATE, Action.START, Action.END]


async def test_edits_follow_the_status(services: Services, callers: Callers, clock: ManualClock):
    start = T0 + timedelta(days=1)
    journey = await new_journey(services, callers, start_at=start)
    journey = await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    assert journey.status is Status.SCHEDULED

    # SCHEDULED: live at once, timers re-planned.
    journey = await services.commands.update(
        callers.editor, journey.id, {"start_at": T0 + timedelta(hours=1)}
    )
    assert journey.live_version == 2 and journey.start_at == T0 + timedelta(hours=1)
    assert await services.reads.next_due_at() == T0 + timedelta(hours=1)

    clock.advance(hours=1)
    await services.commands.apply_all_due()
    with pytest.raises(TransitionNotAllowed):
        await services.commands.update(callers.editor, journey.id, {"trigger_event": "x"})

    # PAUSED: a pending version, applied by REACTIVATE only.
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    journey = await services.commands.update(
        callers.editor, journey.id, {"end_at": T0 + timedelta(days=30)}
    )
    assert journey.has_unapplied_changes and journey.end_at is None
    journey = await services.commands.take(callers.editor, journey.id, Action.REACTIVATE)
    assert journey.status is Status.ACTIVE and journey.live_version == 3
    assert journey.end_at == T0 + timedelta(days=30)

    versions = (await services.reads.versions([journey.id]))[journey.id]
    assert [v.number for v in versions] == [1, 2, 3]
    assert [v.created_by for v in versions] == ["eddie"] * 3


async def test_restore_copy_delete_labels(services: Services, callers: Callers):
    journey = await new_journey(services, callers)
    await services.commands.update(callers.editor, journey.id, {"trigger_event": "purchase"})
    journey = await services.commands.restore_version(callers.editor, journey.id, 1)
    assert journey.latest.number == 3 and journey.trigger_event == "signup"
    with pytest.raises(NotFound):
        await services.commands.restore_version(callers.editor, journey.id, 42)

    journey = await services.commands.set_labels(callers.editor, journey.id, ["q1", "vip"])
    journey = await services.commands.rename(callers.editor, journey.id, "Renamed")
    assert journey.labels == ("q1", "vip") and journey.latest.number == 3

    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.commands.take(callers.editor, journey.id, Action.ABORT)
    copy = await services.commands.copy(callers.editor, journey.id, None)
    assert copy.status is Status.DESIGNING and copy.copied_from_id == journey.id
    assert copy.name == "Copy of Renamed" and copy.labels == ("q1", "vip")

    with pytest.raises(TransitionNotAllowed):
        await services.commands.delete(callers.editor, journey.id)
    assert await services.commands.delete(callers.editor, copy.id) == copy.id
    assert await services.reads.journey("acme", copy.id) is None

    by_label = await services.reads.page("acme", JourneyFilter(label="vip"), 10, None)
    assert [j.id for j in by_label.journeys] == [journey.id]


async def test_pages_and_filters(services: Services, callers: Callers):
    made = []
    for index in range(5):
        j = await services.commands.create(
            callers.editor,
            name=f"Journey {index}",
            kind=JourneyKind.EVENT_TRIGGERED,
            content=ready(),
        )
        made.append(j.id)
    await services.commands.take(callers.editor, made[0], Action.ACTIVATE)

    first = await services.reads.page("acme", JourneyFilter(), 2, None)
    assert first.total_count == 5 and first.has_next_page
    second = await services.reads.page("acme", JourneyFilter(), 2, first.journeys[-1].id)
    third = await services.reads.page("acme", JourneyFilter(), 2, second.journeys[-1].id)
    seen = [j.id for page in (first, second, third) for j in page.journeys]
    assert seen == list(reversed(made)) and not third.has_next_page

    active = await services.reads.page("acme", JourneyFilter(statuses=[Status.ACTIVE]), 10, None)
    assert [j.id for j in active.journeys] == [made[0]]
    named = await services.reads.page("acme", JourneyFilter(name_contains="ney 3"), 10, None)
    assert [j.name for j in named.journeys] == ["Journey 3"]
    counts = await services.reads.status_counts("acme")
    assert counts[Status.DESIGNING] == 4 and counts[Status.ACTIVE] == 1


async def test_admin_fails_and_recovers(services: Services, callers: Callers, clock: ManualClock):
    journey = await new_journey(services, callers, end_at=T0 + timedelta(hours=1))
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    journey = await services.commands.take(
        callers.admin, journey.id, Action.FAIL, reason="webhook down"
    )
    assert journey.status is Status.ERROR and journey.error_reason == "webhook down"
    clock.advance(hours=2)
    assert await services.commands.apply_all_due() == 0  # ERROR holds the END
    journey = await services.commands.take(callers.admin, journey.id, Action.RECOVER)
    assert journey.status is Status.CLOSED  # re-evaluated against the dates
    assert journey.error_reason is None


async def test_the_feed_delivers_committed_events_of_its_workspace(
    services: Services, callers: Callers
):
    journey = await new_journey(services, callers)
    async with services.feed.subscribe("acme") as live, services.feed.subscribe("other") as foreign:
        await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
        await services.commands.take(callers.editor, journey.id, Action.PAUSE)
        events = aiter(live)
        first, second = await anext(events), await anext(events)
        assert (first.sequence, first.change.status) == (1, Status.ACTIVE)
        assert (second.sequence, second.change.status) == (2, Status.PAUSED)
        assert foreign._queue.empty()


async def test_a_subscriber_that_falls_behind_is_told_to_resume(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    from service import feed

    journey = await new_journey(services, callers)
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    async with services.feed.subscribe("acme") as fine:
        monkeypatch.setattr(services.feed, "outbound_limit", 2)
        async with services.feed.subscribe("acme") as slow:
            for action in [Action.PAUSE, Action.RESUME, Action.PAUSE, Action.RESUME]:
                await services.commands.take(callers.editor, journey.id, action)
            events = aiter(fine)
            healthy = [(await anext(events)).sequence for _ in range(4)]
            assert healthy == [2, 3, 4, 5]  # the slow one never held the healthy one back
            with pytest.raises(feed.SubscriberTooSlow):
                await anext(aiter(slow))


async def test_a_viewer_is_refused_before_any_lookup(services: Services, callers: Callers):
    mine = await new_journey(services, callers)
    foreign = await services.commands.create(
        callers.outsider, name="Theirs", kind=JourneyKind.EVENT_TRIGGERED, content=ready()
    )
    unknown = "00000000-0000-0000-0000-000000000000"
    for journey_id in (mine.id, foreign.id, unknown):  # the same answer, whatever the id
        attempts = [
            services.commands.take(callers.viewer, journey_id, Action.ACTIVATE),
            services.commands.update(callers.viewer, journey_id, {"trigger_event": "x"}),
            services.commands.rename(callers.viewer, journey_id, "Renamed"),
            services.commands.copy(callers.viewer, journey_id, None),
            services.commands.delete(callers.viewer, journey_id),
            services.entry.enroll(callers.viewer, journey_id, ["ann"]),
        ]
        for attempt in attempts:
            with pytest.raises(Forbidden):
                await attempt


async def test_a_negative_after_is_refused_not_taken_for_a_pruned_log(
    services: Services, callers: Callers
):
    await new_journey(services, callers)
    with pytest.raises(ValidationFailed, match="0 or more"):
        await services.reads.status_events("acme", after=-1)
    assert await services.reads.status_events("acme", after=0) == []
