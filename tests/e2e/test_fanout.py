"""The shared fan-out over real sockets: one execution per document, the same
bytes to every socket, and sockets whose token stops being valid closed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TypeVar

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from domain.actions import Role
from service.clock import ManualClock
from service.retention import LogRetention
from service.services import Services
from service.settings import Settings
from service.tokens import Tokens
from tests.conftest import T0
from tests.e2e.conftest import LiveServer, gauge, make_tokens
from tests.e2e.test_clients import (
    TIMEOUT,
    act,
    create,
    open_socket,
    receive_operation,
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


@pytest.fixture
def rechecking_server(database_url: str) -> Iterator[LiveServer]:
    clock = ManualClock(T0)
    live = LiveServer(
        database_url,
        clock,
        make_tokens(database_url, clock),
        settings={"token_recheck_seconds": 0.05},
    )
    live.start()
    yield live
    live.stop()


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
