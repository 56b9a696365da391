"""Resuming `statusChanged` with `after` across forced disconnects, under load.

A subscriber follows the whole workspace while writers keep committing status
changes over HTTP. Several times its TCP connection is torn down without a
WebSocket close (a FIN, then an RST), and once it stops reading for a while,
so that a backlog arrives in one burst. Each time it reconnects and subscribes
again with `after` = the last sequence it saw; a close with 4410 ("resume with
`after`") is handled the same way. In the end it must have seen exactly the
log: every sequence once, in increasing order, with no gap.

A 4410 is not provoked here: these frames are small and the kernel buffers a
few megabytes per socket, so test_slow_clients.py does that with wide frames.

Everything here goes through the protocol (HTTP GraphQL and graphql-transport-ws),
never through the server's internals, so it holds whatever the delivery
machinery behind the socket looks like.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import LiveServer, live_server_async

# The server commits 130 to 200 transitions a second on a 2-core machine
# (about 4 ms of CPU each in the service layer alone, on either database, and
# it shares the GIL with this client), so 10,000 events take one to two
# minutes. The full count runs on PostgreSQL, where writers commit
# concurrently and the commit-ordered sequence is really put to the test; on
# SQLite, whose writers queue one at a time in-process, a quarter of it shows
# the same resumes in a quarter of the time.
TOTAL_EVENTS = {"postgresql": 10_000, "sqlite": 2_500}
# What happens to the subscriber once it has seen this share of the events:
# its TCP connection dies with a FIN or with an RST, or it stops reading for
# a while.
INTERRUPTIONS = {0.20: "fin", 0.45: "rst", 0.65: "stall", 0.85: "rst"}
# The stall lasts until the writers have committed this share more, or for
# STALL_SECONDS at most: well within uvicorn's keepalive (a ping every 20 s,
# 20 s to answer it), which would otherwise drop the silent client with 1011.
STALL = 0.15
STALL_SECONDS = 10.0
JOURNEYS = 120
# The schema allows 30 aliases per document, so 30 mutations per request:
# GraphQL runs a document's mutation fields one after another, each its own
# command and commit, which makes events cheap without touching internals.
BATCH = 30
# Each writer toggles its own journeys, so no command is ever refused.
WRITERS = 4
# Generous: on a loaded 2-core machine the suite must not be flaky.
DEADLINE = 240.0
RESUME_WITH_AFTER = 4410

STATUS_CHANGED = """
subscription Follow($after: Int) {
  statusChanged(after: $after) { sequence journeyId status }
}"""
STATUS_EVENTS = """
query Log($after: Int) { statusEvents(after: $after, first: 100) { sequence } }
"""


# -- the server ---------------------------------------------------------------


def ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http", "ws", 1) + "/graphql"


def http_client(server: LiveServer, *, as_: str = "editor") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.tokens[as_]}"},
        timeout=60,
    )


async def logged_sequences(http: httpx.AsyncClient) -> list[int]:
    """Every sequence in the workspace's log, as `statusEvents` pages through it."""
    sequences: list[int] = []
    while True:
        after = sequences[-1] if sequences else None
        body = await post(http, STATUS_EVENTS, {"after": after})
        page = [event["sequence"] for event in body["statusEvents"]]
        if not page:
            return sequences
        sequences += page


async def post(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


# -- writing events -------------------------------------------------------------


@cache
def batch_document(calls: tuple[tuple[str, str, str], ...]) -> str:
    """One mutation document running `calls` ((field, argument, type), ...) in order.

    Cached, and built from variables, so the server's parse and validation
    caches hit for every batch of the same shape.
    """
    variables = ", ".join(f"$v{i}: {kind}" for i, (_, _, kind) in enumerate(calls))
    fields = " ".join(
        f"m{i}: {name}({argument}: $v{i}) {{ id status }}"
        for i, (name, argument, _) in enumerate(calls)
    )
    return f"mutation Batch({variables}) {{ {fields} }}"


async def mutate(
    http: httpx.AsyncClient, calls: Sequence[tuple[str, str, str, Any]]
) -> list[dict[str, Any]]:
    """Runs (field, argument, type, value) mutations in one request; their results in order."""
    document = batch_document(tuple((name, arg, kind) for name, arg, kind, _ in calls))
    data = await post(http, document, {f"v{i}": call[3] for i, call in enumerate(calls)})
    return [data[f"m{i}"] for i in range(len(calls))]


def journey_input(number: int) -> dict[str, Any]:
    return {
        "name": f"Journey {number}",
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "signup",
        "steps": [{"type": "SEND", "channel": "log", "template": "welcome"}],
    }


async def create_journeys(http: httpx.AsyncClient, count: int) -> list[str]:
    """`count` journeys in DESIGNING (creating one logs no status event)."""
    ids: list[str] = []
    for start in range(0, count, BATCH):
        calls = [
            ("createJourney", "input", "CreateJourneyInput!", journey_input(n))
            for n in range(start, min(start + BATCH, count))
        ]
        ids += [result["id"] for result in await mutate(http, calls)]
    return ids


@dataclass
class Writer:
    """Commits exactly `total` status events: ACTIVATE each journey, then PAUSE/RESUME them.

    Several concurrent requests, each toggling its own journeys, so the
    subscriber sees commits of different requests interleave.
    """

    http: httpx.AsyncClient
    journey_ids: list[str]
    total: int
    writers: int = WRITERS
    batch: int = BATCH
    committed: int = 0
    done: bool = False
    _remaining: int = field(init=False)

    def __post_init__(self) -> None:
        assert len(self.journey_ids) <= self.total
        self._remaining = self.total - len(self.journey_ids)  # after one ACTIVATE each

    def _take(self, wanted: int) -> int:
        taken = min(wanted, self._remaining)
        self._remaining -= taken
        return taken

    async def run(self) -> None:
        try:
            groups = [self.journey_ids[i :: self.writers] for i in range(self.writers)]
            await asyncio.gather(*(self._activate(group) for group in groups))
            await asyncio.gather(*(self._toggle(group) for group in groups))
            assert self.committed == self.total
        finally:
            self.done = True

    async def _activate(self, group: list[str]) -> None:
        for start in range(0, len(group), self.batch):
            chunk = group[start : start + self.batch]
            await self._apply([("activateJourney", journey_id) for journey_id in chunk], "ACTIVE")

    async def _toggle(self, group: list[str]) -> None:
        paused = False
        while True:
            for start in range(0, len(group), self.batch):
                count = self._take(min(self.batch, len(group) - start))
                if count == 0:
                    return
                name, status = ("resumeJourney", "ACTIVE") if paused else ("pauseJourney", "PAUSED")
                await self._apply([(name, j) for j in group[start : start + count]], status)
                if count < min(self.batch, len(group) - start):
                    return  # the budget ran out mid-group: the last batch
            paused = not paused

    async def _apply(self, actions: list[tuple[str, str]], status: str) -> None:
        calls = [(name, "id", "ID!", journey_id) for name, journey_id in actions]
        results = await mutate(self.http, calls)
        assert [result["status"] for result in results] == [status] * len(actions)
        self.committed += len(actions)


# -- the subscriber ---------------------------------------------------------------


async def abort(ws: ClientConnection, *, reset: bool) -> None:
    """Tears the TCP connection down without a WebSocket close frame.

    With `reset`, SO_LINGER 0 makes the kernel answer with an RST, as a crashed
    client's or a middlebox's would; otherwise the server sees a bare FIN.
    """
    if reset:
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()
    await ws.wait_closed()


@dataclass
class Follower:
    """A graphql-transport-ws client that follows the workspace and resumes with `after`."""

    server: LiveServer
    writer: Writer
    # What to do once so many events have been seen: "fin" or "rst" (drop the
    # connection that way) or "stall" (stop reading until the writers have
    # committed `stall_events` more).
    plan: dict[int, str]
    stall_events: int = 0
    seen: list[int] = field(default_factory=list)
    connections: int = 0
    dropped_by_us: int = 0
    told_to_resume: int = 0  # closes with 4410
    target: int | None = None  # the log's last sequence, once the writer is done

    async def run(self) -> None:
        plan = dict(self.plan)
        while not self._finished():
            assert self.connections < 1000, "the follower is not making progress"
            after = self.seen[-1] if self.seen else 0
            self.connections += 1
            try:
                await self._session(after, plan)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                assert code == RESUME_WITH_AFTER, f"closed by the server: {closed!r}"
                self.told_to_resume += 1

    def _finished(self) -> bool:
        return self.target is not None and bool(self.seen) and self.seen[-1] >= self.target

    async def _session(self, after: int, plan: dict[int, str]) -> None:
        ws = await connect(
            ws_url(self.server),
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            open_timeout=30,
        )
        try:
            token = self.server.tokens["viewer"]
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            await send(ws, init)
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            payload = {"query": STATUS_CHANGED, "variables": {"after": after}}
            await send(ws, {"id": "follow", "type": "subscribe", "payload": payload})
            while not self._finished():
                message = await self._receive(ws)
                if message is None:
                    continue
                assert message.get("type") == "next" and message.get("id") == "follow", message
                assert "errors" not in message["payload"], message
                self.seen.append(message["payload"]["data"]["statusChanged"]["sequence"])
                kind = plan.pop(len(self.seen), None)
                if kind in ("fin", "rst"):
                    self.dropped_by_us += 1
                    await abort(ws, reset=kind == "rst")
                    return
                if kind == "stall":
                    await self._stop_reading_for_a_while()
        finally:
            await ws.close()

    async def _receive(self, ws: ClientConnection) -> dict[str, Any] | None:
        """The next operation message, or None after a quiet second (to look at `target`)."""
        try:
            async with asyncio.timeout(1):
                message: dict[str, Any] = json.loads(await ws.recv())
        except TimeoutError:  # websockets' recv() is cancel-safe: nothing is lost
            return None
        if message["type"] == "ping":
            await send(ws, {"type": "pong"})
            return None
        return None if message["type"] == "pong" else message

    async def _stop_reading_for_a_while(self) -> None:
        """Until the writers commit `stall_events` more (or finish, or STALL_SECONDS pass)."""
        mark = self.writer.committed
        started = time.monotonic()
        while (
            self.writer.committed < mark + self.stall_events
            and not self.writer.done
            and time.monotonic() - started < STALL_SECONDS
        ):
            await asyncio.sleep(0.05)


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


# -- the tests -------------------------------------------------------------------------


async def follow_while_writing(
    database_url: str, total: int, plan: dict[int, str], *, stall_events: int = 0, **settings: Any
) -> tuple[list[int], Follower]:
    """Commits `total` events while a Follower with `plan` follows; the log's sequences after."""
    async with live_server_async(database_url, **settings) as server, http_client(server) as http:
        journey_ids = await create_journeys(http, JOURNEYS)
        writer = Writer(http, journey_ids, total)
        follower = Follower(server, writer, plan, stall_events=stall_events)
        following = asyncio.create_task(follower.run())
        try:
            async with asyncio.timeout(DEADLINE):
                await writer.run()
                log = await logged_sequences(http)
                follower.target = log[-1]
                await following
        finally:
            following.cancel()  # when the writer failed: no follower outlives the server
            with contextlib.suppress(asyncio.CancelledError):
                await following
    return log, follower


@pytest.mark.anyio
@pytest.mark.timeout(DEADLINE + 60)
async def test_resume_with_after_across_forced_disconnects_loses_and_repeats_nothing(
    database_url: str,
):
    total = TOTAL_EVENTS["postgresql" if database_url.startswith("postgresql") else "sqlite"]
    plan = {round(total * share): kind for share, kind in INTERRUPTIONS.items()}
    log, follower = await follow_while_writing(
        database_url, total, plan, stall_events=round(total * STALL)
    )

    # One workspace, nothing rolled back: its log is 1..N with no hole.
    assert log == list(range(1, total + 1))
    assert follower.seen == log, summary(follower.seen, log)
    assert follower.dropped_by_us == 3
    assert follower.connections == 1 + follower.dropped_by_us + follower.told_to_resume


@pytest.mark.anyio
@pytest.mark.timeout(DEADLINE + 60)
async def test_frequent_resumes_hand_over_from_replay_to_live_without_a_duplicate(
    database_url: str,
):
    # Each resume hands over from the replay of the log to live events while
    # commits keep landing; resuming every few dozen events makes it likely
    # that an event commits right at the hand-over, where it could be sent
    # twice (by the replay and live) or not at all.
    total = 1_500
    plan = {seen: ("fin", "rst")[i % 2] for i, seen in enumerate(range(40, total, 40))}
    log, follower = await follow_while_writing(database_url, total, plan)

    assert log == list(range(1, total + 1))
    assert follower.seen == log, summary(follower.seen, log)
    assert follower.dropped_by_us == len(plan)


def summary(seen: list[int], log: list[int]) -> str:
    """Where the follower's list leaves the log: the first difference, gaps, repeats."""
    first = next((i for i, (a, b) in enumerate(zip(seen, log, strict=False)) if a != b), None)
    repeated = len(seen) - len(set(seen))
    missing = sorted(set(log) - set(seen))[:10]
    return (
        f"saw {len(seen)} of {len(log)}; first difference at index {first}; "
        f"{repeated} repeated; missing (first 10) {missing}"
    )
