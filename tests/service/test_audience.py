"""Customers entering, walking and receiving messages as each status allows
(SQLite and PostgreSQL). The processor is run by hand (`run_all`), with the
clock moved by the test: nothing here waits for time to pass."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType
from domain.counters import JourneyCounters
from domain.entry import Refusal
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.journey import Journey
from service.clock import ManualClock
from service.entry import Refused, TrackedEvent
from service.services import Services
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

OFFER = Step(StepType.SEND, channel="log", template="offer")
THANKS = Step(StepType.SEND, channel="log", template="thanks")


def wait(seconds: int) -> Step:
    return Step(StepType.WAIT, seconds=seconds)


async def running(
    services: Services,
    callers: Callers,
    *steps: Step,
    trigger: str = "signup",
    **content: object,
) -> Journey:
    journey = await services.commands.create(
        callers.editor,
        name="Welcome",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=steps or (OFFER,), trigger_event=trigger, **content),  # type: ignore[arg-type]
    )
    return await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)


async def counters(services: Services, journey: Journey) -> JourneyCounters:
    return (await services.reads.counters([journey.id]))[journey.id]


async def track(services: Services, callers: Callers, *customers: str, name: str = "signup"):
    return await services.entry.track(
        callers.editor, [TrackedEvent(name, customer) for customer in customers]
    )


async def test_an_event_admits_and_the_message_goes_out(services: Services, callers: Callers):
    journey = await running(services, callers, OFFER, wait(60), THANKS)
    [tracked] = await track(services, callers, "ann")
    assert tracked.entered == [journey.id] and tracked.refused == []

    await services.processing.run_all()
    stats = await counters(services, journey)
    assert (stats.entered, stats.inside, stats.delivered, stats.queued) == (1, 1, 1, 0)
    assert await services.reads.customers_at_steps([journey.id]) == {journey.id: {2: 1}}


async def test_a_wait_holds_until_its_time_then_the_walk_completes(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, OFFER, wait(60), THANKS)
    await track(services, callers, "ann", "bob")
    await services.processing.run_all()
    clock.advance(seconds=59)
    await services.processing.run_all()
    assert (await counters(services, journey)).delivered == 2  # the thank-you waits

    clock.advance(seconds=1)
    await services.processing.run_all()
    stats = await counters(services, journey)
    assert (stats.delivered, stats.completed, stats.inside) == (4, 2, 0)


async def test_each_refusal_names_its_reason(
    services: Services, callers: Callers, clock: ManualClock
):
    active = await running(services, callers)
    frozen = await running(services, callers)
    await services.commands.take(callers.editor, frozen.id, Action.FREEZE)
    ended = await running(services, callers, end_at=T0 + timedelta(hours=1))
    designing = await services.commands.create(
        callers.editor,
        name="Draft",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=(OFFER,), trigger_event="signup"),
    )
    await track(services, callers, "ann")
    clock.advance(hours=2)  # `ended` is past its window, still ACTIVE until its END runs

    [again, invalid] = await track(services, callers, "ann", "bad\x00id")
    assert again.entered == []
    assert set(again.refused) == {
        Refused(active.id, Refusal.ALREADY_IN_JOURNEY),
        Refused(frozen.id, Refusal.NOT_ADMITTING),
        Refused(ended.id, Refusal.OUTSIDE_WINDOW),
    }
    assert {r.reason for r in invalid.refused} == {Refusal.INVALID_ID}
    assert designing.id not in {r.journey_id for r in again.refused}  # not listening yet
    await services.commands.take(callers.editor, frozen.id, Action.ABORT)
    [after_abort] = await track(services, callers, "bob")
    assert frozen.id not in {r.journey_id for r in after_abort.refused}  # never again


async def test_the_same_customer_twice_in_one_batch_enters_once(
    services: Services, callers: Callers
):
    journey = await running(services, callers)
    first, second = await track(services, callers, "ann", "ann")
    assert first.entered == [journey.id]
    assert second.refused == [Refused(journey.id, Refusal.ALREADY_IN_JOURNEY)]
    assert (await counters(services, journey)).entered == 1


async def test_pause_holds_customers_and_queued_messages_resume_lets_them_go(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, OFFER, wait(60), THANKS, send_delay_seconds=300)
    await track(services, callers, "ann")
    await services.processing.run_all()  # the offer is queued, recallable for 300 s
    assert (await counters(services, journey)).queued == 1

    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    await track(services, callers, "bob")  # PAUSED admits; bob waits at his first step
    clock.advance(seconds=600)  # the recall window and the wait both run out while paused
    await services.processing.run_all()
    stats = await counters(services, journey)
    assert (stats.inside, stats.queued, stats.handed_over, stats.delivered) == (2, 1, 0, 0)

    await services.commands.take(callers.editor, journey.id, Action.RESUME)
    await services.processing.run_all()
    stats = await counters(services, journey)
    # ann's offer goes out and her expired wait is due at once: her thank-you is
    # queued (inside its own recall window); bob's offer is queued too.
    assert (stats.delivered, stats.queued) == (1, 2)


async def test_abort_exits_everyone_and_cancels_what_is_still_queued(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, OFFER, wait(600), THANKS, send_delay_seconds=60)
    await track(services, callers, "ann", "bob", "cy")
    await services.processing.run_all()
    assert (await counters(services, journey)).queued == 3

    await services.commands.take(callers.editor, journey.id, Action.ABORT)
    stats = await counters(services, journey)  # true at once, before any row is settled
    assert (stats.inside, stats.exited, stats.queued, stats.cancelled) == (0, 3, 0, 3)

    clock.advance(seconds=120)
    await services.processing.run_all()  # settles the rows; nothing goes out
    stats = await counters(services, journey)
    assert (stats.delivered, stats.handed_over, stats.cancelled, stats.exited) == (0, 0, 3, 3)
    assert await services.reads.customers_at_steps([journey.id]) == {journey.id: {}}


async def test_reactivate_moves_customers_onto_the_new_version(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, wait(60), OFFER, THANKS)
    await track(services, callers, "ann")
    await services.processing.run_all()  # ann waits before the offer
    await services.commands.take(callers.editor, journey.id, Action.FREEZE)
    await services.commands.update(callers.editor, journey.id, {"steps": (wait(60), THANKS)})
    await services.commands.take(callers.editor, journey.id, Action.REACTIVATE)

    clock.advance(seconds=60)
    await services.processing.run_all()  # step 1 of the new version: the thank-you, last
    stats = await counters(services, journey)
    assert (stats.delivered, stats.completed) == (1, 1)


async def test_enrolling_a_list(services: Services, callers: Callers):
    journey = await running(services, callers)
    result = await services.entry.enroll(callers.editor, journey.id, ["a", "b", "x" * 201])
    assert result.admitted == 2
    assert [(r.customer_id, r.reason) for r in result.rejected] == [("x" * 201, Refusal.INVALID_ID)]
    again = await services.entry.enroll(callers.editor, journey.id, ["a", "c"])
    assert again.admitted == 1
    assert [(r.customer_id, r.reason) for r in again.rejected] == [
        ("a", Refusal.ALREADY_IN_JOURNEY)
    ]


async def test_bad_enrollments_change_nothing(services: Services, callers: Callers):
    journey = await running(services, callers)
    with pytest.raises(ValidationFailed, match="at most 10000"):
        await services.entry.enroll(callers.editor, journey.id, [f"c{i}" for i in range(10_001)])
    with pytest.raises(ValidationFailed, match="repeated"):
        await services.entry.enroll(callers.editor, journey.id, ["a", "b", "a"])
    with pytest.raises(Forbidden):
        await services.entry.enroll(callers.viewer, journey.id, ["a"])
    with pytest.raises(NotFound):
        await services.entry.enroll(callers.outsider, journey.id, ["a"])
    with pytest.raises(ValidationFailed, match="at most 1000 events"):
        await track(services, callers, *[f"c{i}" for i in range(1001)])
    assert (await counters(services, journey)).entered == 0


async def test_a_step_applied_twice_never_sends_twice(services: Services, callers: Callers):
    """Two processors working at once (SKIP LOCKED on PostgreSQL, one writer on
    SQLite) move each customer once and queue each message once."""
    import asyncio

    journey = await running(services, callers, OFFER, THANKS)
    await services.entry.enroll(callers.editor, journey.id, [f"c{i}" for i in range(300)])
    await asyncio.gather(*(services.processing.run_all() for _ in range(3)))
    stats = await counters(services, journey)
    assert (stats.delivered, stats.completed, stats.inside) == (600, 300, 0)


async def test_a_log_message_is_delivered_in_its_steps_transaction(
    services: Services, callers: Callers, caplog: pytest.LogCaptureFixture
):
    """The `log` channel is this process's own log: a message with no recall window is
    written DELIVERED by the step that sends it, its line logged just before the commit."""
    import logging

    from sqlalchemy import select

    from store.tables import DELIVERIES

    journey = await running(services, callers, OFFER)
    caplog.set_level(logging.INFO, logger="journeys.channel.log")
    await track(services, callers, "ann")
    assert await services.processing.advance() == 1
    rows = await services.database.read(
        lambda c: list(c.execute(select(DELIVERIES.c.state, DELIVERIES.c.attempts)))
    )
    assert [tuple(row) for row in rows] == [("DELIVERED", 1)]
    stats = await counters(services, journey)
    assert (stats.completed, stats.queued, stats.handed_over, stats.delivered) == (1, 0, 0, 1)
    assert [r.getMessage() for r in caplog.records if "'ann'" in r.getMessage()] == [
        f"delivered template 'offer' to customer 'ann' (journey {journey.id}, delivery 1)"
    ]


async def test_a_log_message_whose_commit_failed_is_sent_again(
    services: Services, callers: Callers, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    """The lines are written, then the commit fails: nothing of the batch is recorded, the
    customer is still due, and the next batch sends the message again (at least once);
    the counters count it once."""
    import logging

    from service.log_channel import LogLines

    journey = await running(services, callers, OFFER)
    caplog.set_level(logging.INFO, logger="journeys.channel.log")
    await track(services, callers, "ann")

    class CommitFailed(Exception):
        pass

    written = LogLines.write

    def write_then_fail(self: LogLines) -> None:
        written(self)
        raise CommitFailed

    with monkeypatch.context() as patch:
        patch.setattr(LogLines, "write", write_then_fail)
        with pytest.raises(CommitFailed):
            await services.processing.run_all()
    stats = await counters(services, journey)
    assert (stats.inside, stats.delivered) == (1, 0)
    await services.processing.run_all()
    stats = await counters(services, journey)
    assert (stats.inside, stats.completed, stats.delivered) == (0, 1, 1)
    assert sum("to customer 'ann'" in r.getMessage() for r in caplog.records) == 2


async def test_a_customer_who_enters_during_a_backlog_of_messages_moves_on_before_it_ends(
    services: Services, callers: Callers, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
):
    """The kinds of work take turns: while 2,500 messages are handed over in batches, a
    customer who just entered another journey has her step applied between two of them."""
    from service import processing

    monkeypatch.setattr(processing, "DELIVERY_BATCH", 1000)
    monkeypatch.setattr(processing, "IDLE_RETRY_SECONDS", 0.0)
    delayed = await running(services, callers, OFFER, trigger="bulk", send_delay_seconds=60)
    await services.entry.enroll(callers.editor, delayed.id, [f"c{i}" for i in range(2500)])
    await services.processing.run_all()  # queued, recallable for 60 s
    assert (await counters(services, delayed)).queued == 2500
    prompt = await running(services, callers, OFFER)
    clock.advance(seconds=60)

    handed_over: list[int] = []  # how many had gone when each batch began
    hand_over = processing.Processing.hand_over

    async def counted(self: processing.Processing) -> int:
        if not handed_over:
            await track(services, callers, "ann")  # she enters as the backlog starts
        handed_over.append((await counters(services, delayed)).delivered)
        return await hand_over(self)

    advanced_at: list[int] = []
    advance = processing.Processing.advance

    async def noted(self: processing.Processing) -> int:
        moved = await advance(self)
        if moved:
            advanced_at.append((await counters(services, delayed)).delivered)
        return moved

    monkeypatch.setattr(processing.Processing, "hand_over", counted)
    monkeypatch.setattr(processing.Processing, "advance", noted)
    await services.processing.run_all()
    assert (await counters(services, delayed)).delivered == 2500
    assert (await counters(services, prompt)).delivered == 1
    assert advanced_at and advanced_at[0] < 2500  # ann moved on while the backlog ran
