"""REACTIVATE moves the customers inside onto the new version by node key (SQLite and
PostgreSQL): at a removed node their walk ends (NODE_REMOVED), a wait whose length or
type changed counts again from when they reached it, and RESUME keeps the version."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from domain.actions import Action
from domain.flow import Node, NodeType
from domain.journey import Journey
from service.clock import ManualClock
from service.entry import TrackedEvent
from service.services import Services
from tests.conftest import Callers
from tests.service.flows import running, send

pytestmark = pytest.mark.anyio

HOUR = 3600


def wait(key: str, seconds: int, next: str | None = None) -> Node:
    return Node(key, NodeType.WAIT, next=next, seconds=seconds)


async def enter(services: Services, callers: Callers, *customers: str) -> None:
    await services.entry.track(callers.editor, [TrackedEvent("signup", c) for c in customers])
    await services.processing.run_all()


async def rows(services: Services, journey: Journey) -> dict[str, tuple]:
    found = await services.database.read(
        lambda connection: connection.execute(
            sa.text(
                "SELECT customer_id, node_key, state, exit_reason FROM enrollments "
                "WHERE journey_id = :j"
            ),
            {"j": journey.id},
        ).all()
    )
    return {row[0]: tuple(row[1:]) for row in found}


async def messages(services: Services, journey: Journey) -> Counter[tuple[str, str]]:
    found = await services.database.read(
        lambda connection: connection.execute(
            sa.text("SELECT customer_id, node_key FROM deliveries WHERE journey_id = :j"),
            {"j": journey.id},
        ).all()
    )
    return Counter((row[0], row[1]) for row in found)


async def counts_equal_rows(services: Services, journey: Journey) -> None:
    counted = (await services.reads.node_counts([journey.id]))[journey.id]
    inside = Counter(
        k for k, state, _ in (await rows(services, journey)).values() if state == "INSIDE"
    )
    assert {k: c.at for k, c in counted.items() if c.at} == dict(inside)
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert stats.inside == sum(inside.values())


async def reactivate_with(
    services: Services, callers: Callers, journey: Journey, *nodes: Node
) -> Journey:
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    await services.commands.update(callers.editor, journey.id, {"nodes": nodes})
    return await services.commands.take(callers.editor, journey.id, Action.REACTIVATE)


async def test_at_a_removed_node_the_walk_ends_node_removed(services: Services, callers: Callers):
    journey = await running(
        services, callers, send("offer", next="wait"), wait("wait", HOUR, "thanks"), send("thanks")
    )
    await enter(services, callers, "ann", "bob")
    journey = await reactivate_with(
        services, callers, journey, send("offer", next="thanks"), send("thanks")
    )
    assert await rows(services, journey) == {
        "ann": ("wait", "EXITED", "NODE_REMOVED"),
        "bob": ("wait", "EXITED", "NODE_REMOVED"),
    }
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.entered, stats.inside, stats.exited, stats.completed) == (2, 0, 2, 0)
    await counts_equal_rows(services, journey)
    # Newcomers walk the new version.
    await enter(services, callers, "cy")
    assert (await rows(services, journey))["cy"] == ("thanks", "COMPLETED", None)


async def test_a_shortened_wait_is_due_from_when_it_was_reached(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, wait("wait", 10 * HOUR, "thanks"), send("thanks"))
    await enter(services, callers, "ann")
    clock.advance(seconds=2 * HOUR)
    journey = await reactivate_with(
        services, callers, journey, wait("wait", HOUR, "thanks"), send("thanks")
    )
    await services.processing.run_all()  # an hour after she reached it: due at once
    assert await messages(services, journey) == Counter({("ann", "thanks"): 1})
    await counts_equal_rows(services, journey)


async def test_a_longer_timeout_counts_from_when_the_customer_reached_the_node(
    services: Services, callers: Callers, clock: ManualClock
):
    def waiting(timeout: int) -> tuple[Node, ...]:
        return (
            Node("w", NodeType.WAIT_FOR_EVENT, event="buy", timeout_seconds=timeout,
                 next="thanks", on_timeout="remind"),
            send("thanks"),
            send("remind"),
        )  # fmt: skip

    journey = await running(services, callers, *waiting(HOUR))
    await enter(services, callers, "ann")
    clock.advance(seconds=HOUR // 2)
    journey = await reactivate_with(services, callers, journey, *waiting(3 * HOUR))
    clock.advance(seconds=HOUR)  # past the old timeout, before the new one
    await services.processing.run_all()
    assert await messages(services, journey) == Counter()
    clock.advance(seconds=HOUR + HOUR // 2)  # three hours after she reached it
    await services.processing.run_all()
    assert await messages(services, journey) == Counter({("ann", "remind"): 1})


async def test_a_node_of_another_type_is_applied_afresh(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, wait("hello", HOUR, "bye"), send("bye"))
    await enter(services, callers, "ann")
    clock.advance(seconds=HOUR // 2)
    # Her WAIT becomes a SEND: a SEND is due once reached, so she gets it at once.
    journey = await reactivate_with(
        services, callers, journey, send("hello", next="bye"), send("bye")
    )
    await services.processing.run_all()
    assert await messages(services, journey) == Counter({("ann", "hello"): 1, ("ann", "bye"): 1})
    assert (await rows(services, journey))["ann"] == ("bye", "COMPLETED", None)
    await counts_equal_rows(services, journey)


async def test_a_send_that_became_a_wait_waits_from_when_it_was_reached(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(
        services, callers, wait("w", 60, "hello"), send("hello", next="bye"), send("bye")
    )
    await enter(services, callers, "ann")
    clock.advance(seconds=60)
    await services.processing.advance()  # one batch: her wait is over, she is at "hello"
    assert (await rows(services, journey))["ann"] == ("hello", "INSIDE", None)
    # Held there (not yet sent), her SEND becomes a one-hour WAIT.
    journey = await reactivate_with(
        services, callers, journey, wait("w", 60, "hello"), wait("hello", HOUR, "bye"),
        send("bye"),
    )  # fmt: skip
    await services.processing.run_all()
    assert await messages(services, journey) == Counter()
    assert (await rows(services, journey))["ann"] == ("hello", "INSIDE", None)
    clock.advance(seconds=HOUR)  # an hour after she reached it
    await services.processing.run_all()
    assert await messages(services, journey) == Counter({("ann", "bye"): 1})
    await counts_equal_rows(services, journey)


async def test_a_wait_lengthened_during_a_hold_counts_from_when_it_was_reached(
    services: Services, callers: Callers, clock: ManualClock
):
    journey = await running(services, callers, wait("pause", 60, "offer"), send("offer"))
    await enter(services, callers, "ann")
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    clock.advance(seconds=60)  # her wait ran out while held: she is at "pause", due
    await services.commands.update(
        callers.editor, journey.id, {"nodes": (wait("pause", 3 * 60, "offer"), send("offer"))}
    )
    journey = await services.commands.take(callers.editor, journey.id, Action.REACTIVATE)
    await services.processing.run_all()
    assert (await rows(services, journey))["ann"] == ("pause", "INSIDE", None)
    clock.advance(seconds=2 * 60)
    await services.processing.run_all()
    assert await messages(services, journey) == Counter({("ann", "offer"): 1})


async def test_resume_keeps_the_version(services: Services, callers: Callers):
    journey = await running(
        services, callers, send("offer", next="wait"), wait("wait", HOUR, "thanks"), send("thanks")
    )
    await enter(services, callers, "ann")
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    await services.commands.update(callers.editor, journey.id, {"nodes": (send("offer"),)})
    journey = await services.commands.take(callers.editor, journey.id, Action.RESUME)
    assert journey.live_version == 1 and journey.has_unapplied_changes
    assert await rows(services, journey) == {"ann": ("wait", "INSIDE", None)}
