"""Events move customers already inside (SQLite and PostgreSQL): a WAIT_FOR_EVENT releases
its customer when the event comes, or sends them on at the timeout; a goal takes them out
wherever they are; a hold decides by time when the journey runs again; re-entry NEVER;
and every node's counters equal the rows."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from domain.actions import Action
from domain.conditions import AttributeCondition, ConditionOp
from domain.entry import Refusal
from domain.flow import Node, NodeType, Reentry
from domain.journey import Journey
from service.clock import ManualClock
from service.entry import TrackedEvent
from service.services import Services
from tests.conftest import Callers
from tests.service.flows import running, send

pytestmark = pytest.mark.anyio

DAY = 24 * 3600


# The birthday journey: the offer, then five days for a purchase of at least 10: the
# thank-you when it comes, the reminder if not.
BIRTHDAY = (
    send("offer", "offer", next="wait-purchase"),
    Node(
        "wait-purchase",
        NodeType.WAIT_FOR_EVENT,
        event="purchase",
        where=(AttributeCondition("amount", ConditionOp.AT_LEAST, 10),),
        timeout_seconds=5 * DAY,
        next="thanks",
        on_timeout="reminder",
    ),
    send("thanks", "thank-you"),
    send("reminder", "reminder"),
)


async def track(services: Services, callers: Callers, *events: TrackedEvent):
    return await services.entry.track(callers.editor, list(events))


async def rows(services: Services, sql: str, **values: object) -> list[tuple]:
    found = await services.database.read(
        lambda connection: connection.execute(sa.text(sql), values).all()
    )
    return [tuple(row) for row in found]


async def messages(services: Services, journey: Journey) -> Counter[tuple[str, str]]:
    found = await rows(
        services, "SELECT customer_id, node_key FROM deliveries WHERE journey_id = :j", j=journey.id
    )
    return Counter(found)


async def places(services: Services, journey: Journey) -> dict[str, tuple[str, str]]:
    found = await rows(
        services,
        "SELECT customer_id, node_key, state FROM enrollments WHERE journey_id = :j",
        j=journey.id,
    )
    return {c: (k, s) for c, k, s in found}


async def counts_equal_rows(services: Services, journey: Journey) -> dict[str, int]:
    """Each node's `at` counter, checked against the enrollments inside at it."""
    counted = (await services.reads.node_counts([journey.id]))[journey.id]
    inside = Counter(
        key
        for key, state in (await places(services, journey)).values()
        if state == "INSIDE" and key is not None
    )
    at = {key: count.at for key, count in counted.items() if count.at}
    assert at == dict(inside)
    return at


async def signup(services: Services, callers: Callers, *customers: str) -> None:
    await track(services, callers, *(TrackedEvent("signup", c) for c in customers))
    await services.processing.run_all()


async def test_the_event_releases_at_once_and_the_timeout_sends_the_others_on(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, *BIRTHDAY)
    await signup(services, callers, "ann", "bob", "cy")
    assert await counts_equal_rows(services, journey) == {"wait-purchase": 3}
    # Each reached the offer and the wait: six arrivals, which a stats watcher sees.
    assert (await services.reads.counters([journey.id]))[journey.id].node_arrivals == 6

    clock.advance(seconds=DAY)
    [small, bought] = await track(
        services,
        callers,
        TrackedEvent("purchase", "bob", {"amount": 5}),  # does not meet `where`
        TrackedEvent("purchase", "ann", {"amount": 25}),
    )
    assert (small.released, bought.released) == ([], [journey.id])
    # Released in the transaction that tracked it: at the thank-you, due now.
    assert (await places(services, journey))["ann"] == ("thanks", "INSIDE")
    await services.processing.run_all()
    assert (await places(services, journey))["ann"] == ("thanks", "COMPLETED")

    clock.advance(seconds=4 * DAY - 1)
    await services.processing.run_all()
    assert (await places(services, journey))["bob"] == ("wait-purchase", "INSIDE")
    clock.advance(seconds=1)
    await services.processing.run_all()
    assert await messages(services, journey) == Counter(
        [(c, "offer") for c in ("ann", "bob", "cy")]
        + [("ann", "thanks"), ("bob", "reminder"), ("cy", "reminder")]
    )
    counted = (await services.reads.node_counts([journey.id]))[journey.id]
    assert counted["wait-purchase"].branches == {"event": 1, "timeout": 2}
    assert counted["wait-purchase"].reached == 3
    assert await counts_equal_rows(services, journey) == {}


async def test_an_event_before_reaching_the_node_or_after_the_timeout_does_not_count(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, *BIRTHDAY)
    await signup(services, callers, "ann")
    before = clock.now() - timedelta(minutes=1)
    [result] = await track(
        services, callers, TrackedEvent("purchase", "ann", {"amount": 50}, at=before)
    )
    assert result.released == []
    clock.advance(seconds=5 * DAY)
    await services.processing.run_all()
    assert (await places(services, journey))["ann"] == ("reminder", "COMPLETED")


async def test_a_hold_decides_by_time_when_the_journey_runs_again(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, *BIRTHDAY)
    await signup(services, callers, "ann", "bob", "cy")
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    clock.advance(seconds=DAY)
    # Held: the event is kept, nobody moves.
    [result] = await track(services, callers, TrackedEvent("purchase", "ann", {"amount": 10}))
    assert result.released == []
    clock.advance(seconds=5 * DAY)  # bob's and cy's timeouts run out during the hold
    [late] = await track(services, callers, TrackedEvent("purchase", "bob", {"amount": 10}))
    await services.processing.run_all()
    assert {c: p[0] for c, p in (await places(services, journey)).items()} == dict.fromkeys(
        ("ann", "bob", "cy"), "wait-purchase"
    )
    await services.commands.take(callers.editor, journey.id, Action.RESUME)
    await services.processing.run_all()
    # ann's purchase came before her timeout: the thank-you; bob's came after his.
    assert await messages(services, journey) == Counter(
        [(c, "offer") for c in ("ann", "bob", "cy")]
        + [("ann", "thanks"), ("bob", "reminder"), ("cy", "reminder")]
    )
    assert late.released == []
    assert await counts_equal_rows(services, journey) == {}


async def test_an_event_during_a_hold_releases_on_resume_before_the_timeout(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, *BIRTHDAY)
    await signup(services, callers, "ann", "bob")
    await services.commands.take(callers.editor, journey.id, Action.FREEZE)
    clock.advance(seconds=DAY)
    await track(services, callers, TrackedEvent("purchase", "ann", {"amount": 10}))
    await services.commands.take(callers.editor, journey.id, Action.REACTIVATE)
    # Released by the REACTIVATE itself: ann at the thank-you, bob still waiting.
    assert (await places(services, journey))["ann"] == ("thanks", "INSIDE")
    await services.processing.run_all()
    assert (await places(services, journey)) == {
        "ann": ("thanks", "COMPLETED"),
        "bob": ("wait-purchase", "INSIDE"),
    }
    assert await counts_equal_rows(services, journey) == {"wait-purchase": 1}


async def test_a_goal_takes_customers_out_wherever_they_are_held_or_not(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(
        services,
        callers,
        *BIRTHDAY,
        goal_event="subscribe",
        goal_where=(AttributeCondition("plan", ConditionOp.EQUALS, "pro"),),
    )
    await signup(services, callers, "ann", "bob", "cy")
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    [converted, other_plan, not_inside] = await track(
        services,
        callers,
        TrackedEvent("subscribe", "ann", {"plan": "pro"}),
        TrackedEvent("subscribe", "bob", {"plan": "free"}),
        TrackedEvent("subscribe", "zed", {"plan": "pro"}),
    )
    assert (converted.converted, other_plan.converted, not_inside.converted) == (
        [journey.id],
        [],
        [],
    )
    assert (await places(services, journey))["ann"] == ("wait-purchase", "CONVERTED")
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.converted, stats.inside, stats.entered) == (1, 2, 3)
    assert await counts_equal_rows(services, journey) == {"wait-purchase": 2}
    # Out of it: no thank-you and no reminder for ann.
    await services.commands.take(callers.editor, journey.id, Action.RESUME)
    clock.advance(seconds=5 * DAY)
    await services.processing.run_all()
    assert ("ann", "reminder") not in await messages(services, journey)
    # AFTER_EXIT: she may enter again.
    [again] = await track(services, callers, TrackedEvent("signup", "ann"))
    assert again.entered == [journey.id]


async def test_reentry_never_refuses_whoever_has_been_in_the_journey(
    services: Services, callers: Callers
):
    journey = await running(services, callers, send("hello", "hello"), reentry=Reentry.NEVER)
    await signup(services, callers, "ann")
    [again, first] = await track(
        services, callers, TrackedEvent("signup", "ann"), TrackedEvent("signup", "bob")
    )
    assert [r.reason for r in again.refused] == [Refusal.ALREADY_ENTERED]
    assert first.entered == [journey.id]
    enrolled = await services.entry.enroll(callers.editor, journey.id, ["ann", "cy"])
    assert enrolled.admitted == 1
    assert [(r.customer_id, r.reason) for r in enrolled.rejected] == [
        ("ann", Refusal.ALREADY_ENTERED)
    ]


async def test_a_wait_for_event_at_the_entry_waits_from_the_moment_of_entry(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(
        services,
        callers,
        Node(
            "wait",
            NodeType.WAIT_FOR_EVENT,
            event="open",
            timeout_seconds=60,
            next="opened",
            on_timeout=None,
        ),
        send("opened", "opened"),
    )
    await signup(services, callers, "ann", "bob")
    clock.advance(seconds=30)
    [result] = await track(services, callers, TrackedEvent("open", "ann"))
    assert result.released == [journey.id]
    clock.advance(seconds=30)
    await services.processing.run_all()
    assert await places(services, journey) == {
        "ann": ("opened", "COMPLETED"),
        "bob": ("wait", "COMPLETED"),
    }
    counted = (await services.reads.node_counts([journey.id]))[journey.id]
    assert (counted["wait"].reached, counted["wait"].branches) == (2, {"event": 1, "timeout": 1})
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.completed, stats.inside) == (2, 0)


async def test_events_of_one_call_act_in_their_order(services: Services, callers: Callers):
    journey = await running(services, callers, *BIRTHDAY, goal_event="subscribe")
    [converted_first, entered, converted] = await track(
        services,
        callers,
        TrackedEvent("subscribe", "ann"),  # not inside yet: nothing to convert
        TrackedEvent("signup", "ann"),
        TrackedEvent("subscribe", "ann"),
    )
    assert (converted_first.converted, entered.entered, converted.converted) == (
        [],
        [journey.id],
        [journey.id],
    )
    assert (await places(services, journey)) == {"ann": (None, "CONVERTED")}
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.entered, stats.inside, stats.converted) == (1, 0, 1)


async def test_an_event_before_the_goal_in_one_call_finds_the_customer_still_inside(
    services: Services, callers: Callers
):
    journey = await running(services, callers, *BIRTHDAY, goal_event="subscribe")
    await signup(services, callers, "ann")
    [inside, converted, again] = await track(
        services,
        callers,
        TrackedEvent("signup", "ann"),  # she is inside: refused
        TrackedEvent("subscribe", "ann"),
        TrackedEvent("signup", "ann"),  # out, converted: she enters again (AFTER_EXIT)
    )
    assert [r.reason for r in inside.refused] == [Refusal.ALREADY_IN_JOURNEY]
    assert (inside.entered, converted.converted, again.entered) == ([], [journey.id], [journey.id])
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.entered, stats.inside, stats.converted) == (2, 1, 1)
