"""The clients single-page apps use, against a live server.

- The npm `graphql-ws` client (with `ws`) under Node, in a subprocess
  (tests/e2e/js/subscribe.mjs): it prints each `next` payload as a JSON line.
- A Python client on `websockets`' asyncio API speaking `graphql-transport-ws`
  (ping/pong, subscribe, complete) and the legacy `graphql-ws` (start, stop, ka).

No test waits on time passing: a subscription is known to be registered when
/metrics counts it (`journeys_subscribers`), when its first replayed event
arrives, or the test subscribes with `after` so replay covers whatever committed
first.

Node is optional locally (the npm tests skip without `node`/`npm`) and required
when JOURNEYS_REQUIRE_NODE=1, as in CI. The dependencies are installed once with
`npm ci` into tests/e2e/js/node_modules, and again whenever package-lock.json
pins something else than what is installed there.
"""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import JS_DIR, LiveServer, gauge

SUBSCRIBER = JS_DIR / "subscribe.mjs"
TIMEOUT = 20.0  # generous for a loaded CI machine; a passing run takes well under 1 s

STATUS_CHANGED = """
subscription Watch($journeyId: ID, $after: Int) {
  statusChanged(journeyId: $journeyId, after: $after) {
    sequence journeyId previousStatus status action actor { kind name }
  }
}"""
CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id status } }"
ACT = "mutation($id: ID!) {{ {name}(id: $id) {{ id status }} }}"


# -- the server, over HTTP ------------------------------------------------------


def create(server: LiveServer, *, as_: str = "editor", name: str = "Welcome series") -> str:
    input = {
        "name": name,
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "signup",
        "steps": [{"type": "SEND", "channel": "log", "template": "welcome"}],
    }
    journey_id: str = server.data(CREATE, {"input": input}, as_=as_)["createJourney"]["id"]
    return journey_id


def act(server: LiveServer, name: str, journey_id: str, *, as_: str = "editor") -> str:
    status: str = server.data(ACT.format(name=name), {"id": journey_id}, as_=as_)[name]["status"]
    return status


def subscribers(server: LiveServer) -> int:
    """Live statusChanged subscriptions the server holds (its /metrics gauge)."""
    return gauge(server, "journeys_subscribers")


def wait_for_subscribers(server: LiveServer, count: int) -> None:
    """Until the server holds `count` subscriptions: from then on, commits reach them live."""
    deadline = time.monotonic() + TIMEOUT
    while (current := subscribers(server)) != count:
        assert time.monotonic() < deadline, f"{current} subscribers, never {count}"
        time.sleep(0.01)


def ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http", "ws", 1) + "/graphql"


def brief(payload: dict[str, Any]) -> tuple[int, str, str, str, str]:
    """(sequence, journeyId, previousStatus, status, action) of a statusChanged payload."""
    assert "errors" not in payload, payload
    event = payload["data"]["statusChanged"]
    return (
        event["sequence"],
        event["journeyId"],
        event["previousStatus"],
        event["status"],
        event["action"],
    )


# -- the npm client -------------------------------------------------------------


class NodeSubscriber:
    """subscribe.mjs running: its stdout lines as they come, its exit status at the end."""

    def __init__(self, node: str, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [node, str(SUBSCRIBER), *args],
            cwd=JS_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next_line(self) -> dict[str, Any]:
        """The next line printed; fails if the client exits or says nothing in time."""
        try:
            line = self._lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"the npm client printed nothing in {TIMEOUT}s") from None
        assert line is not None, f"the npm client exited early: {self.finish()}"
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def finish(self) -> tuple[int, list[dict[str, Any]], str]:
        """Its exit status, the lines not yet read, and what it said on stderr."""
        try:
            returncode = self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the npm client did not exit in {TIMEOUT}s") from None
        self._reader.join(timeout=TIMEOUT)
        rest = []
        while (line := self._lines.get_nowait()) is not None:
            rest.append(json.loads(line))
        assert self.process.stderr is not None
        return returncode, rest, self.process.stderr.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


StartNode = Callable[..., NodeSubscriber]


@pytest.fixture
def npm_subscriber(node: str, server: LiveServer) -> Iterator[StartNode]:
    """Starts subscribe.mjs against the server; kills whatever is left at the end."""
    started: list[NodeSubscriber] = []

    def start(
        *,
        as_: str | None = "viewer",
        token: str | None = None,
        variables: dict[str, Any] | None = None,
        count: int = 1,
        query: str = STATUS_CHANGED,
    ) -> NodeSubscriber:
        args = ["--url", ws_url(server), "--query", query, "--count", str(count)]
        args += ["--variables", json.dumps(variables or {}), "--timeout-ms", "30000"]
        if token is None and as_ is not None:
            token = server.tokens[as_]
        if token is not None:
            args += ["--token", token]
        subscriber = NodeSubscriber(node, args)
        started.append(subscriber)
        return subscriber

    yield start
    for subscriber in started:
        subscriber.close()


def test_npm_client_hears_live_changes_in_order(server: LiveServer, npm_subscriber: StartNode):
    journey_id = create(server)
    client = npm_subscriber(variables={"journeyId": journey_id}, count=4)
    wait_for_subscribers(server, 1)  # no `after`: every event below must come live
    for mutation in ("activateJourney", "pauseJourney", "resumeJourney", "closeJourney"):
        act(server, mutation, journey_id)

    returncode, payloads, stderr = client.finish()
    assert returncode == 0, (payloads, stderr)
    assert [brief(payload) for payload in payloads] == [
        (1, journey_id, "DESIGNING", "ACTIVE", "ACTIVATE"),
        (2, journey_id, "ACTIVE", "PAUSED", "PAUSE"),
        (3, journey_id, "PAUSED", "ACTIVE", "RESUME"),
        (4, journey_id, "ACTIVE", "CLOSED", "CLOSE"),
    ]
    actors = [payload["data"]["statusChanged"]["actor"] for payload in payloads]
    assert actors == [{"kind": "USER", "name": "editor"}] * 4


def test_npm_client_gets_the_replay_after_then_live_events(
    server: LiveServer, npm_subscriber: StartNode
):
    first, second = create(server, name="First"), create(server, name="Second")
    act(server, "activateJourney", first)  # 1: before `after`, never sent
    act(server, "activateJourney", second)  # 2
    act(server, "pauseJourney", first)  # 3

    client = npm_subscriber(variables={"after": 1}, count=4)
    replayed = [brief(client.next_line()), brief(client.next_line())]
    assert replayed == [
        (2, second, "DESIGNING", "ACTIVE", "ACTIVATE"),
        (3, first, "ACTIVE", "PAUSED", "PAUSE"),
    ]
    # The replay arrived, so the subscription listens: these two come live.
    act(server, "resumeJourney", first)
    act(server, "closeJourney", second)

    returncode, payloads, stderr = client.finish()
    assert returncode == 0, (payloads, stderr)
    assert [brief(payload) for payload in payloads] == [
        (4, first, "PAUSED", "ACTIVE", "RESUME"),
        (5, second, "ACTIVE", "CLOSED", "CLOSE"),
    ]


@pytest.mark.parametrize("token", ["jrn_not_a_token", None], ids=["bad-token", "no-token"])
def test_npm_client_without_a_valid_token_fails_with_4403(
    server: LiveServer, npm_subscriber: StartNode, token: str | None
):
    client = npm_subscriber(as_=None, token=token, variables={"after": 0})
    returncode, lines, stderr = client.finish()
    assert returncode == 1, (lines, stderr)
    assert lines == [
        {"error": {"kind": "close", "code": 4403, "reason": "Forbidden", "wasClean": True}}
    ]
    assert subscribers(server) == 0


def test_npm_client_never_hears_a_foreign_workspace(server: LiveServer, npm_subscriber: StartNode):
    acme = create(server)
    act(server, "activateJourney", acme)  # committed first: the replay must skip it
    client = npm_subscriber(as_="outsider", variables={"after": 0}, count=1)
    wait_for_subscribers(server, 1)
    act(server, "pauseJourney", acme)  # live: the feed must not hand it over
    act(server, "resumeJourney", acme)
    theirs = create(server, as_="outsider", name="Theirs")
    act(server, "activateJourney", theirs, as_="outsider")  # the marker

    returncode, payloads, stderr = client.finish()
    assert returncode == 0, (payloads, stderr)
    # The first event it heard is the marker: nothing of acme's came before it.
    assert [brief(payload) for payload in payloads] == [
        (1, theirs, "DESIGNING", "ACTIVE", "ACTIVATE")
    ]
    assert payloads[0]["data"]["statusChanged"]["actor"] == {"kind": "USER", "name": "otto"}


def test_npm_client_is_told_when_a_subscription_does_not_parse(
    server: LiveServer, npm_subscriber: StartNode
):
    client = npm_subscriber(query="subscription { statusChanged {", count=1)
    returncode, lines, stderr = client.finish()
    assert returncode == 1, (lines, stderr)  # 2 is "completed without an event"
    error = lines[0]["error"]
    assert error["kind"] == "graphql" or (error["kind"] == "close" and error["code"] == 4400)


# -- a Python client on websockets' asyncio API ---------------------------------


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def receive_operation(
    ws: ClientConnection, skipped: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The next message about an operation, within TIMEOUT in all; answers pings, notes
    keep-alives in `skipped`. (One deadline for the whole wait: a keep-alive every 15 s
    must not restart it, or a missing message would wait for pytest's timeout.)"""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = await receive(ws)
            if message["type"] == "ping":  # graphql-transport-ws: answer as soon as possible
                await send(ws, {"type": "pong"})
            if message["type"] not in ("ping", "pong", "ka"):
                return message
            if skipped is not None:
                skipped.append(message)


@asynccontextmanager
async def open_socket(
    server: LiveServer, protocol: str, *, as_: str = "viewer"
) -> AsyncIterator[ClientConnection]:
    """A socket past connection_init/connection_ack."""
    async with connect(ws_url(server), subprotocols=[protocol], open_timeout=TIMEOUT) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == protocol
        payload = {"authorization": f"Bearer {server.tokens[as_]}"}
        await send(ws, {"type": "connection_init", "payload": payload})
        ack = await receive(ws)
        assert ack["type"] == "connection_ack", ack
        yield ws


async def start(
    ws: ClientConnection, protocol: str, operation_id: str, variables: dict[str, Any]
) -> None:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    payload = {"query": STATUS_CHANGED, "variables": variables}
    await send(ws, {"id": operation_id, "type": kind, "payload": payload})


def sequence(message: dict[str, Any]) -> tuple[str, str, int]:
    """(id, type, sequence) of a next/data message."""
    event = message["payload"]["data"]["statusChanged"]
    return message["id"], message["type"], event["sequence"]


@pytest.mark.anyio
async def test_transport_ws_answers_every_ping_with_a_pong(server: LiveServer):
    async with connect(ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "ping"})  # "at any time within the established socket"
        assert await receive(ws) == {"type": "pong"}

        payload = {"authorization": f"Bearer {server.tokens['viewer']}"}
        await send(ws, {"type": "connection_init", "payload": payload})
        assert (await receive(ws))["type"] == "connection_ack"
        await send(ws, {"type": "ping", "payload": {"sent": "now"}})
        pong = await receive(ws)
        assert pong["type"] == "pong" and set(pong) <= {"type", "payload"}
        await send(ws, {"type": "pong"})  # a unidirectional heartbeat: no answer, no close
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


@pytest.mark.anyio
async def test_transport_ws_complete_stops_that_operation(server: LiveServer):
    journey_id = await asyncio.to_thread(create, server)
    protocol = "graphql-transport-ws"
    async with open_socket(server, protocol) as ws:
        await start(ws, protocol, "a", {"journeyId": journey_id, "after": 0})
        await asyncio.to_thread(act, server, "activateJourney", journey_id)
        assert sequence(await receive_operation(ws)) == ("a", "next", 1)

        await send(ws, {"id": "a", "type": "complete"})
        await send(ws, {"type": "ping"})
        # Messages are handled in order: the pong says `complete` was handled,
        # and nothing about "a" may come in between (not even a `complete`).
        assert await receive(ws) == {"type": "pong"}
        await asyncio.to_thread(wait_for_subscribers, server, 0)  # it let go of the feed

        await start(ws, protocol, "b", {"journeyId": journey_id, "after": 1})
        await asyncio.to_thread(act, server, "pauseJourney", journey_id)
        await asyncio.to_thread(act, server, "resumeJourney", journey_id)
        assert sequence(await receive_operation(ws)) == ("b", "next", 2)
        assert sequence(await receive_operation(ws)) == ("b", "next", 3)

        # A completed id may be used again.
        await start(ws, protocol, "a", {"journeyId": journey_id, "after": 2})
        assert sequence(await receive_operation(ws)) == ("a", "next", 3)

        await send(ws, {"id": "a", "type": "complete"})
        await send(ws, {"id": "b", "type": "complete"})
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}  # nothing else was pending
        await asyncio.to_thread(wait_for_subscribers, server, 0)


@pytest.mark.anyio
async def test_legacy_graphql_ws_start_stop_with_keep_alives(server: LiveServer):
    journey_id = await asyncio.to_thread(create, server)
    protocol = "graphql-ws"
    keep_alives: list[dict[str, Any]] = []
    async with open_socket(server, protocol) as ws:
        await start(ws, protocol, "1", {"journeyId": journey_id, "after": 0})
        await asyncio.to_thread(act, server, "activateJourney", journey_id)
        assert sequence(await receive_operation(ws, keep_alives)) == ("1", "data", 1)

        await send(ws, {"id": "1", "type": "stop"})
        await asyncio.to_thread(wait_for_subscribers, server, 0)  # it let go of the feed
        await start(ws, protocol, "2", {"journeyId": journey_id, "after": 1})
        await asyncio.to_thread(act, server, "pauseJourney", journey_id)
        after_stop = []
        while (message := await receive_operation(ws, keep_alives)).get("id") != "2":
            after_stop.append(message)
        assert sequence(message) == ("2", "data", 2)
        # A stopped operation may be told `complete` (strawberry does), never sent data.
        assert after_stop in ([], [{"type": "complete", "id": "1"}]), after_stop

        await send(ws, {"type": "connection_terminate"})
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                message = await receive_operation(ws, keep_alives)
                assert message == {"type": "complete", "id": "2"}, message
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000

    # The server's keep-alive (`ka`, sent on ack then every 15 s) came and was skipped.
    assert keep_alives and all(message == {"type": "ka"} for message in keep_alives)
    await asyncio.to_thread(wait_for_subscribers, server, 0)


@pytest.mark.anyio
async def test_legacy_graphql_ws_without_a_valid_token_gets_connection_error(
    server: LiveServer,
):
    async with connect(ws_url(server), subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
        refusal = await receive(ws)
        assert refusal["type"] == "connection_error"
        assert refusal["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_python_client_never_hears_a_foreign_workspace(server: LiveServer, protocol: str):
    acme = await asyncio.to_thread(create, server)
    await asyncio.to_thread(act, server, "activateJourney", acme)  # the replay must skip it
    async with open_socket(server, protocol, as_="outsider") as ws:
        await start(ws, protocol, "1", {"after": 0})
        await asyncio.to_thread(wait_for_subscribers, server, 1)
        await asyncio.to_thread(act, server, "pauseJourney", acme)  # live: must not arrive
        theirs = await asyncio.to_thread(create, server, as_="outsider", name="Theirs")
        await asyncio.to_thread(act, server, "activateJourney", theirs, as_="outsider")

        marker = await receive_operation(ws)
        assert marker["type"] in ("next", "data") and marker["id"] == "1", marker
        assert brief(marker["payload"]) == (1, theirs, "DESIGNING", "ACTIVE", "ACTIVATE")


@pytest.mark.anyio
async def test_legacy_graphql_ws_reports_a_query_that_does_not_parse(server: LiveServer):
    async with open_socket(server, "graphql-ws") as ws:
        query = "subscription { statusChanged {"
        await send(ws, {"id": "1", "type": "start", "payload": {"query": query}})
        message = None
        with suppress(TimeoutError):
            async with asyncio.timeout(1):
                message = await receive_operation(ws)
        assert message is not None, "no answer to a start that does not parse"
        assert message["type"] == "error" and message["id"] == "1", message
