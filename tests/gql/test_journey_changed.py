"""`journeyChanged` and the counts, over the real schema and services (SQLite and
PostgreSQL), run by the Multiplexer as the server runs them: a journey created,
renamed, relabelled, edited, copied or deleted reaches its own workspace's
subscribers, and nobody else's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType
from gql.context import Context
from gql.events import subscriptions
from gql.live.multiplex import LiveRequest, Multiplexer
from gql.live.shape import subscription_shape
from gql.schema import schema
from service.services import Services
from service.tokens import Principal
from tests.conftest import Callers
from tests.gql.test_live_subscription import Socket, until

pytestmark = pytest.mark.anyio

CHANGED = """subscription {
  journeyChanged { journeyId revision what journey { name labels } }
}"""
COUNTS = "subscription { statusCountsChanged { status count } }"
READY = Content(steps=(Step(StepType.SEND, channel="log", template="hi"),), trigger_event="signup")


@pytest.fixture
async def multiplexer() -> AsyncIterator[Multiplexer]:
    multiplexer = Multiplexer(schema, hold_limit=1000)
    yield multiplexer
    await multiplexer.close()


class Subscribers:
    def __init__(self, services: Services, multiplexer: Multiplexer) -> None:
        self.services = services
        self.multiplexer = multiplexer
        self.serving: list[asyncio.Task[None]] = []

    async def subscribe(self, principal: Principal, query: str) -> Socket:
        socket = Socket()
        shape = subscription_shape(query, None)
        assert shape is not None
        context = Context.of_principal(self.services, principal)
        request = LiveRequest(query, {}, None, context)
        listening = self.multiplexer.subscriber_count + 1
        self.serving.append(asyncio.create_task(self.multiplexer.serve(request, shape, socket)))
        await until(lambda: self.multiplexer.subscriber_count == listening, "listening")
        return socket


@pytest.fixture
async def subscribers(services: Services, multiplexer: Multiplexer) -> AsyncIterator[Subscribers]:
    made = Subscribers(services, multiplexer)
    yield made
    for task in made.serving:
        task.cancel()
    await asyncio.gather(*made.serving, return_exceptions=True)


def changes(socket: Socket) -> list[dict[str, Any]]:
    return [p["data"]["journeyChanged"] for p in socket.payloads]


async def test_each_change_without_a_status_event_reaches_its_workspace_alone(
    services: Services, callers: Callers, subscribers: Subscribers
):
    ours = await subscribers.subscribe(callers.viewer, CHANGED)
    theirs = await subscribers.subscribe(callers.outsider, CHANGED)
    commands = services.commands
    seen = 0

    async def then(expected: dict[str, Any]) -> None:
        # One at a time: `journey` is read when the signal is executed, so the
        # next change must wait for it to show this one.
        nonlocal seen
        seen += 1
        await until(lambda: len(ours.payloads) == seen, f"signal {seen}")
        assert changes(ours)[-1] == expected

    journey = await commands.create(
        callers.editor, name="Welcome", kind=JourneyKind.EVENT_TRIGGERED, content=READY
    )
    shown = {"name": "Welcome", "labels": []}
    await then({"journeyId": journey.id, "revision": 1, "what": "CREATED", "journey": shown})
    await commands.rename(callers.editor, journey.id, "Welcome back")
    shown = {"name": "Welcome back", "labels": []}
    await then({"journeyId": journey.id, "revision": 2, "what": "UPDATED", "journey": shown})
    await commands.set_labels(callers.editor, journey.id, ["vip"])
    shown = {"name": "Welcome back", "labels": ["vip"]}
    await then({"journeyId": journey.id, "revision": 3, "what": "UPDATED", "journey": shown})
    await commands.update(callers.editor, journey.id, {"trigger_event": "login"})
    await then({"journeyId": journey.id, "revision": 4, "what": "UPDATED", "journey": shown})

    # A status change is statusChanged's: no signal of it here (the copy's comes next).
    await commands.take(callers.editor, journey.id, Action.ACTIVATE)
    copy = await commands.copy(callers.editor, journey.id, None)
    shown = {"name": "Copy of Welcome back", "labels": ["vip"]}
    await then({"journeyId": copy.id, "revision": 1, "what": "CREATED", "journey": shown})
    await commands.delete(callers.editor, copy.id)
    await then({"journeyId": copy.id, "revision": 1, "what": "DELETED", "journey": None})

    # The other workspace heard none of it: its first signal is its own journey's.
    foreign = await commands.create(
        callers.outsider, name="Theirs", kind=JourneyKind.EVENT_TRIGGERED, content=READY
    )
    await until(lambda: len(theirs.payloads) == 1, "the outsider's own signal")
    assert [c["journeyId"] for c in changes(theirs)] == [foreign.id]
    # A change of ours after theirs: once it is here, a leaked signal would be too.
    await commands.rename(callers.editor, journey.id, "Welcome once more")
    shown = {"name": "Welcome once more", "labels": ["vip"]}
    await then({"journeyId": journey.id, "revision": 6, "what": "UPDATED", "journey": shown})
    assert foreign.id not in {c["journeyId"] for c in changes(ours)}


async def test_a_journey_created_or_deleted_moves_the_counts_at_once(
    services: Services,
    callers: Callers,
    subscribers: Subscribers,
    monkeypatch: pytest.MonkeyPatch,
):
    # The periodic re-read an hour away: only the signal can move them.
    monkeypatch.setattr(subscriptions, "COUNTS_REFRESH_SECONDS", 3600.0)
    counts = await subscribers.subscribe(callers.viewer, COUNTS)

    def designing() -> list[int]:
        return [
            next(c["count"] for c in p["data"]["statusCountsChanged"] if c["status"] == "DESIGNING")
            for p in counts.payloads
        ]

    await until(lambda: designing() == [0], "the counts now")
    journey = await services.commands.create(
        callers.editor, name="Welcome", kind=JourneyKind.EVENT_TRIGGERED, content=READY
    )
    await until(lambda: designing()[-1:] == [1], "the count of the new journey")
    await services.commands.delete(callers.editor, journey.id)
    await until(lambda: designing()[-1:] == [0], "the count without it")


async def test_a_later_subscriber_of_the_same_counts_gets_them_at_once(
    services: Services, callers: Callers, subscribers: Subscribers
):
    await services.commands.create(
        callers.editor, name="Welcome", kind=JourneyKind.EVENT_TRIGGERED, content=READY
    )
    first = await subscribers.subscribe(callers.viewer, COUNTS)
    await until(lambda: len(first.payloads) == 1, "the counts now")

    # Same workspace, role and document, nothing changed since: it joins the
    # first one's execution, whose read of the counts was before it came.
    later = await subscribers.subscribe(callers.viewer, COUNTS)
    await until(lambda: len(later.payloads) == 1, "the counts, at once")
    assert later.payloads == first.payloads
    counts = {c["status"]: c["count"] for c in later.payloads[0]["data"]["statusCountsChanged"]}
    assert counts["DESIGNING"] == 1
    assert subscribers.multiplexer.shared_count == 1
