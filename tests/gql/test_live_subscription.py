"""The subscription contract (gql/live/subscription.py) run by the Multiplexer, and on its own.

A small schema declares its subscriptions the way the service's do (a replay
and live values); the log is in memory, read by the service's EventFeed, so a
test can commit an event at the exact moment it wants: in the middle of a
replay, say, which is where a gap or a duplicate would come from.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry

from domain.actions import Action, ActorKind, ActorName, Role
from domain.events import LoggedStatusChange, StatusChanged
from domain.statuses import Status
from gql.context import Context
from gql.live.multiplex import LiveRequest, Multiplexer
from gql.live.shape import subscription_shape
from gql.live.subscription import (
    Events,
    Live,
    live_subscription,
    status_events,
    undeclared_subscriptions,
)
from gql.schema import schema as journeys_schema
from service.feed import EventFeed
from service.tokens import Principal

pytestmark = pytest.mark.anyio

WORKSPACE = "acme"
PAGE = 2  # the replay reads the log two events at a time: hand-overs happen between pages


class Log:
    """One workspace's status log in memory, the feed that reads it, and hooks for the tests."""

    def __init__(self) -> None:
        self.events: list[LoggedStatusChange] = []
        self.feed = EventFeed(self.read, self.last_sequence, outbound_limit=10_000)
        self.declared = 0  # executions of the declaration
        self.shown: dict[int, int] = {}  # sequence -> executions of a Tick's fields
        self.before_page: Callable[[int], Awaitable[None]] | None = None
        self.live_starts: asyncio.Event | None = None

    async def read(self, workspace_id: str, *, after: int, first: int) -> list[LoggedStatusChange]:
        return [event for event in self.events if event.sequence > after][:first]

    async def last_sequence(self, workspace_id: str) -> int:
        return self.events[-1].sequence if self.events else 0

    def commit(self, journey_id: str = "j1") -> int:
        sequence = len(self.events) + 1
        change = StatusChanged(
            journey_id=journey_id,
            previous_status=Status.DESIGNING,
            status=Status.SCHEDULED,
            action=Action.ACTIVATE,
            actor=ActorName(ActorKind.USER, "alice"),
            reason=None,
            version=None,
            at=datetime(2030, 1, 1, tzinfo=UTC),
        )
        self.events.append(LoggedStatusChange(sequence, WORKSPACE, change))
        self.feed.ring(WORKSPACE)
        return sequence


def log_of(info: strawberry.Info) -> Log:
    log: Log = info.context.services.log
    return log


@strawberry.type
class Tick:
    sequence: int

    @strawberry.field
    def journey(self, info: strawberry.Info) -> str:
        log = log_of(info)
        log.shown[self.sequence] = log.shown.get(self.sequence, 0) + 1
        return next(e.change.journey_id for e in log.events if e.sequence == self.sequence)


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @live_subscription(description="The log after `after`, then live events.")
    async def ticks(
        self, info: strawberry.Info, journey_id: str | None = None, after: int | None = None
    ) -> Live[Tick]:
        log = log_of(info)
        log.declared += 1
        if journey_id == "foreign":
            raise LookupError("no journey with id 'foreign' in your workspace")

        async def replay(after: int) -> AsyncIterator[tuple[int, Tick]]:
            if after < 0:
                raise LookupError("the log no longer keeps events after a negative sequence")
            while True:
                if log.before_page is not None:
                    await log.before_page(after)
                page = await log.read(WORKSPACE, after=after, first=PAGE)
                for event in page:
                    if journey_id is None or event.change.journey_id == journey_id:
                        yield event.sequence, Tick(sequence=event.sequence)
                if len(page) < PAGE:
                    return
                after = page[-1].sequence

        async def live(events: Events) -> AsyncIterator[tuple[int | None, Tick]]:
            if log.live_starts is not None:
                await log.live_starts.wait()
            async for event in events:
                if journey_id is None or event.change.journey_id == journey_id:
                    yield event.sequence, Tick(sequence=event.sequence)

        return Live(live=live, current=False, replay=replay)

    @live_subscription()
    async def size(self, info: strawberry.Info) -> Live[int]:
        """The log's length now, then after each event: a current value, like the counts."""
        log = log_of(info)

        async def live(events: Events) -> AsyncIterator[tuple[int | None, int]]:
            if log.live_starts is not None:
                await log.live_starts.wait()
            yield None, len(log.events)
            async for _ in events:
                yield None, len(log.events)

        return Live(live=live, current=True)

    @live_subscription()
    async def rung(self, info: strawberry.Info) -> Live[int]:
        """Each event as a signal without a sequence, like journeyChanged: a change, not a value."""

        async def live(events: Events) -> AsyncIterator[tuple[int | None, int]]:
            async for event in status_events(events):
                yield None, event.sequence

        return Live(live=live, current=False)


schema = strawberry.Schema(query=Query, subscription=Subscription)

TICKS = """subscription Ticks($journeyId: String, $after: Int) {
  ticks(journeyId: $journeyId, after: $after) { sequence journey }
}"""


class Socket:
    """A subscriber as the Multiplexer sees one: what it was sent, and how it ended."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.errors: list[Any] | None = None
        self.ended = asyncio.Event()
        self.told_to_resume = False

    def next(self, payload: str) -> None:
        self.payloads.append(json.loads(payload))

    async def next_waiting(self, payload: str) -> None:
        self.next(payload)

    async def error(self, errors: list[Any]) -> None:
        self.errors = errors
        self.ended.set()

    async def complete(self) -> None:
        self.ended.set()

    def fell_behind(self) -> None:
        self.told_to_resume = True

    @property
    def sequences(self) -> list[int]:
        return [p["data"]["ticks"]["sequence"] for p in self.payloads if p.get("data")]


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(5):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"still waiting for: {what}") from None


class Harness:
    def __init__(self) -> None:
        self.log = Log()
        self.multiplexer = Multiplexer(schema, hold_limit=1000)
        services: Any = SimpleNamespace(feed=self.log.feed, log=self.log)
        principal = Principal(WORKSPACE, "alice", Role.EDITOR)
        self.context = Context.of_principal(services, principal)
        self.tasks: list[asyncio.Task[None]] = []

    def subscribe(self, query: str = TICKS, **variables: Any) -> Socket:
        socket = Socket()
        shape = subscription_shape(query, None)
        assert shape is not None
        request = LiveRequest(query, variables, None, self.context)
        self.tasks.append(asyncio.create_task(self.multiplexer.serve(request, shape, socket)))
        return socket

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.multiplexer.close()
        await self.log.feed.close()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    await harness.close()


class PausedReplay:
    """Stops a replay before it reads the page after `after`, until resumed."""

    def __init__(self, log: Log, after: int) -> None:
        self.reached = asyncio.Event()
        self.resume = asyncio.Event()
        self._after = after
        log.before_page = self._before_page

    async def _before_page(self, after: int) -> None:
        if after == self._after:
            self.reached.set()
            await self.resume.wait()


async def test_a_replaying_subscriber_gets_the_log_then_live_events_with_no_gap_and_no_duplicate(
    harness: Harness,
):
    log = harness.log
    for _ in range(3):
        log.commit()
    watching = harness.subscribe()
    await until(lambda: harness.multiplexer.subscriber_count == 1, "the shared execution listens")

    paused = PausedReplay(log, after=3)  # between its first page (2, 3) and its second
    resuming = harness.subscribe(after=1)
    await until(paused.reached.is_set, "the replay's second page")
    log.commit()  # 4: live for the shared execution, held for the resuming subscriber...
    await until(lambda: watching.sequences == [4], "4 live")
    paused.resume.set()  # ...and in the log its replay reads next
    await until(lambda: resuming.sequences == [2, 3, 4], "the replay through 4")
    log.commit()  # 5
    await until(lambda: resuming.sequences[-1:] == [5], "5 live after the replay")

    assert watching.sequences == [4, 5]
    assert resuming.sequences == [2, 3, 4, 5]  # 4 once: the held copy was skipped
    assert harness.multiplexer.shared_count == 1
    assert log.declared == 2  # the shared execution, and the one replay
    assert log.shown[4] == 2 and log.shown[5] == 1  # 4: replayed, and executed live once


async def test_subscribers_with_different_afters_share_one_live_execution(harness: Harness):
    log = harness.log
    for _ in range(3):
        log.commit()
    first = harness.subscribe(after=0)
    second = harness.subscribe(after=2)
    third = harness.subscribe()
    await until(lambda: harness.multiplexer.subscriber_count == 3, "three subscribers live")
    await until(lambda: len(first.sequences) == 3 and second.sequences == [3], "the replays")
    log.commit()
    await until(lambda: all(s.sequences[-1:] == [4] for s in (first, second, third)), "4 live")

    assert first.sequences == [1, 2, 3, 4]
    assert second.sequences == [3, 4]
    assert third.sequences == [4]
    assert harness.multiplexer.shared_count == 1
    assert log.shown[4] == 1  # one execution of the live event for three sockets


async def test_another_journey_is_another_execution(harness: Harness):
    log = harness.log
    mine = harness.subscribe(journeyId="j1")
    theirs = harness.subscribe(journeyId="j2")
    await until(lambda: harness.multiplexer.subscriber_count == 2, "both live")
    log.commit("j2")
    log.commit("j1")
    await until(lambda: mine.sequences == [2] and theirs.sequences == [1], "each its own")
    assert harness.multiplexer.shared_count == 2


async def test_values_without_a_sequence_are_all_delivered(harness: Harness):
    query = "subscription { size }"
    one, two = harness.subscribe(query), harness.subscribe(query)
    await until(lambda: len(one.payloads) == len(two.payloads) == 1, "the size now")
    harness.log.commit()
    await until(lambda: len(one.payloads) == len(two.payloads) == 2, "the size after")
    assert [p["data"]["size"] for p in one.payloads] == [0, 1]
    assert one.payloads == two.payloads
    assert harness.multiplexer.shared_count == 1


def sizes(socket: Socket) -> list[int]:
    return [p["data"]["size"] for p in socket.payloads]


async def test_a_subscriber_that_comes_later_starts_from_the_latest_current_value(
    harness: Harness,
):
    query = "subscription { size }"
    first = harness.subscribe(query)
    await until(lambda: sizes(first) == [0], "the size now")
    harness.log.commit()
    await until(lambda: sizes(first) == [0, 1], "the size after")

    later = harness.subscribe(query)  # nothing changes until it has the size
    await until(lambda: sizes(later) == [1], "the latest size, at once")
    harness.log.commit()
    await until(lambda: sizes(first)[-1:] == [2] and sizes(later)[-1:] == [2], "2 for both")

    assert sizes(first) == [0, 1, 2]
    assert sizes(later) == [1, 2]  # the shared frames after its first, none twice
    assert later.payloads[0] == first.payloads[1]
    assert harness.multiplexer.shared_count == 1


async def test_a_subscriber_that_comes_before_the_first_value_gets_it_once(harness: Harness):
    query = "subscription { size }"
    harness.log.live_starts = asyncio.Event()  # the shared execution yields nothing until set
    first = harness.subscribe(query)
    await until(lambda: harness.multiplexer.subscriber_count == 1, "listening")
    second = harness.subscribe(query)
    await until(lambda: harness.multiplexer.subscriber_count == 2, "both members")
    assert first.payloads == second.payloads == []
    harness.log.live_starts.set()
    await until(lambda: sizes(first) == sizes(second) == [0], "the size now")
    harness.log.commit()
    await until(lambda: sizes(first) == sizes(second) == [0, 1], "the size after")


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("subscription { rung }", lambda p: p["data"]["rung"]),
        ("subscription { ticks { sequence } }", lambda p: p["data"]["ticks"]["sequence"]),
    ],
    ids=["signal", "event"],
)
async def test_a_subscriber_that_comes_later_hears_only_the_changes_after_it(
    harness: Harness, query: str, shown: Callable[[dict[str, Any]], int]
):
    first = harness.subscribe(query)
    await until(lambda: harness.multiplexer.subscriber_count == 1, "listening")
    harness.log.commit()
    await until(lambda: [shown(p) for p in first.payloads] == [1], "1 live")

    later = harness.subscribe(query)
    await until(lambda: harness.multiplexer.subscriber_count == 2, "both members")
    harness.log.commit()
    await until(lambda: [shown(p) for p in first.payloads] == [1, 2], "2 live")
    await until(lambda: later.payloads != [], "2 for the later one")
    assert [shown(p) for p in later.payloads] == [2]  # 1 was news before it came
    assert harness.multiplexer.shared_count == 1


async def test_a_refusal_by_the_declaration_answers_every_subscriber_none_is_left_waiting(
    harness: Harness,
):
    replaying = harness.subscribe(journeyId="foreign", after=0)
    live = harness.subscribe(journeyId="foreign")
    await until(lambda: replaying.ended.is_set() and live.ended.is_set(), "both answered")
    for socket in (replaying, live):
        [refusal] = socket.payloads
        assert refusal["data"] is None
        assert "no journey with id 'foreign'" in refusal["errors"][0]["message"]


async def test_a_refused_replay_is_the_answer_and_nothing_live_follows(harness: Harness):
    log = harness.log
    log.commit()
    refused = harness.subscribe(after=-1)
    await until(refused.ended.is_set, "the refusal")
    log.commit()
    watching = harness.subscribe()
    await until(lambda: harness.multiplexer.subscriber_count == 1, "a live subscriber")
    log.commit()
    await until(lambda: watching.sequences == [3], "3 live")
    [refusal] = refused.payloads
    assert refusal["data"] is None and "no longer keeps" in refusal["errors"][0]["message"]


async def test_a_subscriber_whose_live_events_overflow_is_told_to_resume(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
):
    log = harness.log
    monkeypatch.setattr(log.feed, "outbound_limit", 2)
    log.live_starts = asyncio.Event()  # the shared execution takes no event until set
    slow = harness.subscribe()
    await until(lambda: harness.multiplexer.subscriber_count == 1, "listening")
    for _ in range(5):
        log.commit()
    await until(lambda: harness.log.feed.subscriber_count == 0, "the feed drops it")
    log.live_starts.set()
    await until(slow.ended.is_set, "its end")
    assert slow.told_to_resume and slow.sequences == []


async def test_outside_the_multiplexer_a_subscription_hands_over_on_its_own():
    """Strawberry's own path (or any caller of schema.subscribe): replay, then live, no gap."""
    log = Log()
    services: Any = SimpleNamespace(feed=log.feed, log=log)
    context = Context.of_principal(services, Principal(WORKSPACE, "alice", Role.EDITOR))
    for _ in range(3):
        log.commit()
    paused = PausedReplay(log, after=3)
    results = await schema.subscribe(TICKS, variable_values={"after": 1}, context_value=context)
    assert not isinstance(results, strawberry.types.ExecutionResult)
    received: list[int] = []

    async def read() -> None:
        async for result in results:
            assert result.errors is None, result.errors
            received.append(result.data["ticks"]["sequence"])  # type: ignore[index]

    reader = asyncio.create_task(read())
    try:
        await until(paused.reached.is_set, "the replay's second page")
        log.commit()  # 4, during the replay: in the feed and in the log
        paused.resume.set()
        await until(lambda: received == [2, 3, 4], "the replay through 4")
        log.commit()
        await until(lambda: received == [2, 3, 4, 5], "5 live")
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await results.aclose()
        await log.feed.close()


def test_a_subscription_not_declared_live_is_refused_when_the_multiplexer_is_made():
    @strawberry.type
    class Plain:
        @strawberry.subscription
        async def raw(self) -> AsyncIterator[int]:
            yield 1

    plain = strawberry.Schema(query=Query, subscription=Plain)
    assert undeclared_subscriptions(plain) == ["raw"]
    with pytest.raises(TypeError, match="raw"):
        Multiplexer(plain, hold_limit=10)


def test_every_subscription_of_the_service_is_declared_live():
    assert undeclared_subscriptions(journeys_schema) == []


def test_a_current_value_is_not_replayed():
    async def values(_: object) -> AsyncIterator[tuple[int | None, int]]:
        yield None, 0

    async def replay(after: int) -> AsyncIterator[tuple[int, int]]:
        yield after + 1, 0

    with pytest.raises(TypeError, match="not replayed"):
        Live(live=values, replay=replay, current=True)


def test_a_declaration_must_return_live():
    with pytest.raises(TypeError, match=r"-> Live\[T\]"):

        @live_subscription()
        async def wrong(self: object, info: strawberry.Info) -> AsyncIterator[int]:
            raise AssertionError


def test_the_field_takes_the_declarations_arguments_and_yields_its_values():
    ticks = schema._schema.subscription_type.fields["ticks"]  # type: ignore[union-attr]
    assert str(ticks.type) == "Tick!"
    assert set(ticks.args) == {"journeyId", "after"}
    assert ticks.description == "The log after `after`, then live events."
    assert str(schema._schema.subscription_type.fields["size"].type) == "Int!"  # type: ignore[union-attr]
