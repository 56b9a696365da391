"""The shared fan-out over real sockets: one execution per document, the same
bytes to every socket, a subscriber that joins it later starting from the
latest current value (and from no past event), and sockets whose token stops
being valid closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from domain.actions import Role
from service.retention import LogRetention
from service.services import Services
from service.settings import Settings
from service.tokens import Tokens
from tests.e2e.conftest import LiveServer, gauge
from tests.e2e.test_clients import (
    STATUS_CHANGED,
    TIMEOUT,
    act,
    create,
    open_socket,
    receive_operation,
    send,
    start,
    wait_for_subscribers,
)

T = TypeVar("T")


async def elsewhere(server: LiveServer, use: Callable[[Services], Awaitable[T]]) -> T:
    """Act as an operator's CLI would: another Services, on the server's database and clock."""
    services = Services.embedded(Settings(database_url=server.database_url), clock=server.clock)
    try:
        return await use(services)
    finally:
        await services.close()


@pytest.mark.anyio
async def test_one_execution_serves_every_socket_with_the_same_document(server: LiveServer):
    journey_id = await asyncio.to_thread(create, server)
    await asyncio.to_thread(act, server, "activateJourney", journey_id)  # sequence 1
    plain = [("graphql-transport-ws", {"journeyId": journey_id})] * 8
    legacy = [("graphql-ws", {"journeyId": journey_id})] * 4
    # Resuming dashboards differ only in `after`: they share the execution too.
    resuming = [("graphql-transport-ws", {"journeyId": journey_id, "after": 0})] * 4
    async with AsyncExitStack() as stack:
        sockets: list[tuple[ClientConnection, str]] = []
        for protocol, variables in plain + legacy + resuming:
            ws = await stack.enter_async_context(open_socket(server, protocol))
            await start(ws, protocol, "1", variables)
            sockets.append((ws, protocol))
        await asyncio.to_thread(wait_for_subscribers, server, len(sockets))
        assert await asyncio.to_thread(gauge, server, "journeys_shared_subscriptions") == 1

        # An editor sees other `availableActions`: another role, another execution.
        editor = await stack.enter_async_context(
            open_socket(server, "graphql-transport-ws", as_="editor")
        )
        await start(editor, "graphql-transport-ws", "1", {"journeyId": journey_id})
        await asyncio.to_thread(wait_for_subscribers, server, len(sockets) + 1)
        assert await asyncio.to_thread(gauge, server, "journeys_shared_subscriptions") == 2

        for ws, _ in sockets[len(plain) + len(legacy) :]:
            replayed = await receive_operation(ws)
            assert replayed["payload"]["data"]["statusChanged"]["sequence"] == 1

        await asyncio.to_thread(act, server, "pauseJourney", journey_id)  # sequence 2
        payloads = []
        for ws, protocol in [*sockets, (editor, "graphql-transport-ws")]:
            message = await receive_operation(ws)
            assert message["type"] == ("next" if protocol == "graphql-transport-ws" else "data")
            payloads.append(message["payload"])
        assert all(payload == payloads[0] for payload in payloads)
        assert payloads[0]["data"]["statusChanged"]["sequence"] == 2

    # Every socket gone: nothing keeps executing for them.
    await asyncio.to_thread(wait_for_subscribers, server, 0)
    assert await asyncio.to_thread(gauge, server, "journeys_shared_subscriptions") == 0


async def closed_with(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_revoked_token_closes_its_open_sockets(rechecking_server: LiveServer, protocol):
    server = rechecking_server
    async with (
        open_socket(server, protocol, as_="viewer") as revoked,
        open_socket(server, protocol, as_="editor") as kept,
    ):
        await elsewhere(server, lambda services: services.tokens.revoke("acme", "viewer"))
        server.clock.advance(seconds=Tokens.CACHE_FOR.total_seconds() + 1)
        assert await closed_with(revoked) == 4403
        # The other token's socket is untouched and still served.
        journey_id = await asyncio.to_thread(create, server)
        await start(kept, protocol, "1", {"journeyId": journey_id, "after": 0})
        await asyncio.to_thread(act, server, "activateJourney", journey_id)
        message = await receive_operation(kept)
        assert message["payload"]["data"]["statusChanged"]["status"] == "ACTIVE"


@pytest.mark.anyio
async def test_an_expired_token_closes_its_socket(rechecking_server: LiveServer):
    server = rechecking_server

    async def short_lived(services: Services) -> str:
        lifetime = timedelta(hours=1)
        return await services.tokens.create("acme", Role.VIEWER, "wallboard", expires_in=lifetime)

    server.tokens["wallboard"] = await elsewhere(server, short_lived)
    async with open_socket(server, "graphql-transport-ws", as_="wallboard") as ws:
        server.clock.advance(minutes=59)
        await start(ws, "graphql-transport-ws", "1", {})
        await asyncio.to_thread(wait_for_subscribers, server, 1)  # still open and served
        server.clock.advance(minutes=2)
        assert await closed_with(ws) == 4403


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_an_after_older_than_the_log_is_refused_not_answered_with_a_gap(
    server: LiveServer, protocol: str
):
    journey_id = await asyncio.to_thread(create, server)
    await asyncio.to_thread(act, server, "activateJourney", journey_id)  # sequence 1
    await asyncio.to_thread(act, server, "pauseJourney", journey_id)  # sequence 2
    server.clock.advance(days=31)
    await asyncio.to_thread(act, server, "resumeJourney", journey_id)  # sequence 3, kept

    async def prune(services: Services) -> object:
        return await LogRetention(services.database, server.clock).prune(timedelta(days=30))

    await elsewhere(server, prune)
    async with open_socket(server, protocol) as ws:
        await start(ws, protocol, "old", {"after": 0})
        refusal = await receive_operation(ws)
        assert refusal["id"] == "old" and refusal["payload"]["data"] is None
        error = refusal["payload"]["errors"][0]
        assert error["extensions"]["code"] == "REPLAY_UNAVAILABLE"
        assert error["extensions"]["prunedThrough"] == 2
        assert (await receive_operation(ws))["type"] == "complete"  # no live events after a gap

        await start(ws, protocol, "kept", {"after": 2})
        replayed = await receive_operation(ws)
        assert replayed["payload"]["data"]["statusChanged"]["sequence"] == 3


# -- a subscriber that joins an execution already under way -------------------
#
# The second subscriber asks for exactly what the first did (same document,
# variables and role), after the first got its first frame and with nothing
# changed since: it joins the first one's execution, which read the current
# value before it came.

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
LAYOUTS = ["two sockets", "one socket"]

COUNTS = "subscription Counts { statusCountsChanged { status count } }"
STATS = """subscription Stats($id: ID!) {
  journeyStatsChanged(journeyId: $id) { entered inFlight held delivered queuedDeliveries }
}"""
JOURNEY_CHANGED = "subscription Changes { journeyChanged { journeyId what journey { name } } }"
RENAME = "mutation($id: ID!, $name: String!) { renameJourney(id: $id, name: $name) { id } }"
TRACK = """mutation($customer: String!) {
  trackEvent(name: "visit", customerId: $customer) { entered { id } }
}"""


class Operations:
    """A socket's messages sorted by operation: two operations on one socket interleave."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self._pending: dict[str, list[dict[str, Any]]] = {}

    async def next(self, operation_id: str) -> dict[str, Any]:
        # One deadline for the wait: keep-alives (every 15 s on graphql-ws) would
        # restart the per-message timeout of receive_operation forever.
        try:
            async with asyncio.timeout(TIMEOUT):
                while not self._pending.get(operation_id):
                    message = await receive_operation(self.ws)
                    self._pending.setdefault(message.get("id", ""), []).append(message)
        except TimeoutError:
            raise AssertionError(f"nothing for operation {operation_id} in {TIMEOUT}s") from None
        return self._pending[operation_id].pop(0)


@dataclass
class Subscriber:
    operations: Operations
    operation_id: str

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> None:
        kind = "subscribe" if self.operations.protocol == "graphql-transport-ws" else "start"
        payload = {"query": query, "variables": variables or {}}
        await send(self.operations.ws, {"id": self.operation_id, "type": kind, "payload": payload})

    async def data(self) -> dict[str, Any]:
        message = await self.operations.next(self.operation_id)
        assert message["type"] in ("next", "data"), message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data


@asynccontextmanager
async def two_subscribers(
    server: LiveServer, protocol: str, layout: str
) -> AsyncIterator[tuple[Subscriber, Subscriber]]:
    async with AsyncExitStack() as stack:
        first = Operations(await stack.enter_async_context(open_socket(server, protocol)), protocol)
        second = first
        if layout == "two sockets":
            ws = await stack.enter_async_context(open_socket(server, protocol))
            second = Operations(ws, protocol)
        yield Subscriber(first, "1"), Subscriber(second, "2")


def by_status(data: dict[str, Any]) -> dict[str, int]:
    return {c["status"]: c["count"] for c in data["statusCountsChanged"] if c["count"]}


async def shared_executions(server: LiveServer) -> int:
    return await asyncio.to_thread(gauge, server, "journeys_shared_subscriptions")


@pytest.mark.anyio
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_later_subscriber_to_the_same_counts_gets_them_at_once(
    server: LiveServer, protocol: str, layout: str
):
    watched = await asyncio.to_thread(create, server)
    await asyncio.to_thread(create, server)
    await asyncio.to_thread(act, server, "activateJourney", watched)
    async with two_subscribers(server, protocol, layout) as (first, second):
        await first.subscribe(COUNTS)
        now = await first.data()
        assert by_status(now) == {"DESIGNING": 1, "ACTIVE": 1}

        await second.subscribe(COUNTS)
        assert await second.data() == now  # at once: nothing changes until it comes
        assert await shared_executions(server) == 1  # and it joined the first one's

        # Then both go on together: the next frame is the change, not the counts again.
        await asyncio.to_thread(act, server, "pauseJourney", watched)
        after = await first.data()
        assert by_status(after) == {"DESIGNING": 1, "PAUSED": 1}
        assert await second.data() == after


@pytest.mark.anyio
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_later_subscriber_to_the_same_stats_gets_them_at_once(
    server: LiveServer, protocol: str, layout: str
):
    input = {
        "name": "Watched",
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "visit",
        "steps": [{"type": "SEND", "channel": "log", "template": "welcome"}],
    }
    create_journey = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"
    created = await asyncio.to_thread(server.data, create_journey, {"input": input})
    journey_id = created["createJourney"]["id"]
    await asyncio.to_thread(act, server, "activateJourney", journey_id)
    for customer in ("ann", "bob"):
        await asyncio.to_thread(server.data, TRACK, {"customer": customer})
    variables = {"id": journey_id}
    async with two_subscribers(server, protocol, layout) as (first, second):
        await first.subscribe(STATS, variables)
        settled = await first.data()
        while settled["journeyStatsChanged"]["delivered"] < 2:  # both sent: nothing moves after
            settled = await first.data()
        assert settled["journeyStatsChanged"]["entered"] == 2

        await second.subscribe(STATS, variables)
        assert await second.data() == settled
        assert await shared_executions(server) == 1

        await asyncio.to_thread(act, server, "pauseJourney", journey_id)  # re-read at once
        after = await first.data()
        assert await second.data() == after


@pytest.mark.anyio
@pytest.mark.parametrize("after", [None, 0, 1], ids=["live", "after-0", "after-1"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_later_subscriber_to_the_same_status_events_gets_none_already_sent_live(
    server: LiveServer, protocol: str, after: int | None
):
    journey_id = await asyncio.to_thread(create, server)
    async with two_subscribers(server, protocol, "two sockets") as (first, second):
        await first.subscribe(STATUS_CHANGED, {"journeyId": journey_id})
        await asyncio.to_thread(wait_for_subscribers, server, 1)
        await asyncio.to_thread(act, server, "activateJourney", journey_id)  # sequence 1
        assert (await first.data())["statusChanged"]["sequence"] == 1

        variables: dict[str, Any] = {"journeyId": journey_id}
        if after is not None:
            variables["after"] = after
        await second.subscribe(STATUS_CHANGED, variables)
        await asyncio.to_thread(wait_for_subscribers, server, 2)
        assert await shared_executions(server) == 1
        await asyncio.to_thread(act, server, "pauseJourney", journey_id)  # sequence 2
        await asyncio.to_thread(act, server, "resumeJourney", journey_id)  # sequence 3

        # Event 1 only from its own replay (after 0), never from the shared execution.
        expected = [1, 2, 3] if after == 0 else [2, 3]
        assert [(await second.data())["statusChanged"]["sequence"] for _ in expected] == expected
        assert [(await first.data())["statusChanged"]["sequence"] for _ in (2, 3)] == [2, 3]


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_later_subscriber_to_the_same_journey_changes_gets_none_already_sent(
    server: LiveServer, protocol: str
):
    journey_id = await asyncio.to_thread(create, server)
    async with two_subscribers(server, protocol, "two sockets") as (first, second):
        await first.subscribe(JOURNEY_CHANGED)
        await asyncio.to_thread(wait_for_subscribers, server, 1)
        await asyncio.to_thread(server.data, RENAME, {"id": journey_id, "name": "Before"})
        assert (await first.data())["journeyChanged"]["journey"] == {"name": "Before"}

        await second.subscribe(JOURNEY_CHANGED)
        await asyncio.to_thread(wait_for_subscribers, server, 2)
        await asyncio.to_thread(server.data, RENAME, {"id": journey_id, "name": "After"})
        # A signal, not a value: the one sent before it came is not repeated to it.
        assert (await second.data())["journeyChanged"]["journey"] == {"name": "After"}
        assert (await first.data())["journeyChanged"]["journey"] == {"name": "After"}
