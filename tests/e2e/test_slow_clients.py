"""Clients that stop reading, or die, over real sockets.

- A stalled client (it subscribed, then reads nothing at all) must not delay a
  healthy one: the healthy one gets every event, in order, while the stalled
  one's kernel buffers and the server's outbound queue for it fill up. When
  the stalled one reads again it finds a close with 4410 ("resume with
  `after`") after what was already on its way, and resuming with `after`
  gives it exactly the rest.
- A dead client (it never answers WebSocket pings) is dropped by the server's
  keepalive within a few ping intervals.

The misbehaving clients are plain sockets with a hand-written WebSocket
handshake and framing: a library client reads in the background and buffers,
so it never really stops reading. Nothing asserts tight timings; deadlines are
generous, for a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import LiveServer, gauge, live_server, live_server_async, next_message
from tests.e2e.test_replay_resume import Writer, http_client, logged_sequences, mutate, ws_url

TIMEOUT = 60.0  # generous: a passing run needs a few seconds
RESUME_WITH_AFTER = 4410
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA

# Frames of about 30 kB (an audience of 1,000 customers, 20 labels, a long
# name): the kernel lets a socket's send buffer grow to tcp_wmem's maximum
# (4 MB by default), so it takes that much before a stalled client's frames
# pile up in the server at all; EVENTS of these are several times more.
WIDE = """
subscription Wide($after: Int) {
  statusChanged(after: $after) {
    sequence journeyId previousStatus status action actor { kind name } reason version at
    journey {
      id name kind status revision triggerEvent createdAt updatedAt statusChangedAt
      admitsNewAudience processesSteps availableActions canEdit canDelete labels
      liveVersion { number audience(first: 1000) }
    }
  }
}"""
NARROW = "subscription { statusChanged { sequence journeyId status } }"
JOURNEYS = 30
EVENTS = 600
OUTBOX_FRAMES = 50


# -- a WebSocket client on a bare socket ---------------------------------------


class Closed(Exception):
    """The server sent a close frame."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class RawWebSocket:
    """graphql-transport-ws on a plain socket: it reads only when told to, and
    never answers a WebSocket ping by itself.

    `receive_buffer` (SO_RCVBUF, set before connecting so the TCP window is
    small from the start) makes the kernel hold little on the client's side.
    """

    def __init__(self, server: LiveServer, *, receive_buffer: int | None = None) -> None:
        address = urlsplit(server.base_url)
        assert address.hostname is not None and address.port is not None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((address.hostname, address.port))
        self._buffer = b""
        self._handshake(address.netloc)

    def _handshake(self, host: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /graphql HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buffer:
            self._fill(time.monotonic() + TIMEOUT)
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101"), lines
        headers = {
            name.lower(): value.strip() for name, value in (h.split(":", 1) for h in lines[1:])
        }
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == accept, headers
        assert headers.get("sec-websocket-protocol") == "graphql-transport-ws", headers

    # -- writing --------------------------------------------------------------

    def send_json(self, message: dict[str, Any]) -> None:
        self._send_frame(OP_TEXT, json.dumps(message).encode())

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    # -- reading --------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("nothing more from the server in time")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self._buffer += chunk

    def _take(self, count: int, deadline: float) -> bytes:
        while len(self._buffer) < count:
            self._fill(deadline)
        taken, self._buffer = self._buffer[:count], self._buffer[count:]
        return taken

    def read_frame(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame; EOFError or ConnectionResetError at the end."""
        deadline = time.monotonic() + timeout
        first, second = self._take(2, deadline)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2, deadline))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8, deadline))
        mask = self._take(4, deadline) if second & 0x80 else None
        payload = self._take(length, deadline)
        if mask is not None:
            payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        assert first & 0x80, "fragmented frames are not expected here"
        return first & 0x0F, payload

    def read_message(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next graphql-transport-ws message; raises Closed at a close frame."""
        while True:
            opcode, payload = self.read_frame(timeout)
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code, payload[2:].decode(errors="replace"))
            if opcode == OP_TEXT:
                message: dict[str, Any] = json.loads(payload)
                if message["type"] not in ("ping", "pong"):
                    return message
            # WebSocket pings and pongs: this client answers nothing.

    # -- graphql-transport-ws ---------------------------------------------------

    def init(self, token: str) -> None:
        self.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        ack = self.read_message()
        assert ack["type"] == "connection_ack", ack

    def subscribe(self, operation_id: str, query: str, variables: dict[str, Any]) -> None:
        payload = {"query": query, "variables": variables}
        self.send_json({"id": operation_id, "type": "subscribe", "payload": payload})

    def close(self) -> None:
        with suppress(OSError):
            self.sock.close()


def max_send_buffer() -> int:
    """How large the kernel lets a TCP socket's send buffer grow (Linux; 4 MB by default)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as limits:
            return int(limits.read().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024


# -- helpers ------------------------------------------------------------------------


def subscribers(server: LiveServer) -> int:
    """Live statusChanged subscriptions the server holds (its /metrics gauge)."""
    return gauge(server, "journeys_subscribers")


def wait_for_subscribers(server: LiveServer, count: int, timeout: float = TIMEOUT) -> float:
    """Until the server holds `count` subscriptions; how long that took."""
    started = time.monotonic()
    while (current := subscribers(server)) != count:
        assert time.monotonic() - started < timeout, f"{current} subscribers, never {count}"
        time.sleep(0.02)
    return time.monotonic() - started


async def create_wide_journeys(http: httpx.AsyncClient, count: int) -> list[str]:
    """Journeys whose events make big frames under WIDE."""
    ids: list[str] = []
    for start in range(0, count, 10):
        calls = [
            ("createJourney", "input", "CreateJourneyInput!", wide_input(n))
            for n in range(start, min(start + 10, count))
        ]
        ids += [result["id"] for result in await mutate(http, calls)]
    return ids


def wide_input(number: int) -> dict[str, Any]:
    return {
        "name": f"Journey {number:03} " + "n" * 180,
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "signup",
        "steps": [{"type": "SEND", "channel": "log", "template": "welcome"}],
        "labels": [f"{i:02}-" + "l" * 47 for i in range(20)],
        "audience": [f"customer-{number:03}-{i:06}-0123456789" for i in range(1_000)],
    }


@dataclass
class Healthy:
    """A well-behaved asyncio graphql-transport-ws client reading as fast as it can."""

    ws: ClientConnection
    sequences: list[int] = field(default_factory=list)
    received_bytes: int = 0
    closed: ConnectionClosed | None = None
    reading: asyncio.Task[None] | None = None

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                    continue
                assert message["type"] == "next", message
                assert "errors" not in message["payload"], message
                self.sequences.append(message["payload"]["data"]["statusChanged"]["sequence"])
                self.received_bytes += len(raw)
        except ConnectionClosed as closed:
            self.closed = closed

    async def until(self, last: int) -> None:
        """Until it has seen sequence `last`; fails at once if its reading stopped."""
        while not self.sequences or self.sequences[-1] < last:
            assert self.closed is None, f"the healthy client was disconnected: {self.closed!r}"
            if self.reading is not None and self.reading.done():
                self.reading.result()  # raises what stopped it
                raise AssertionError("the server ended the healthy client's connection")
            await asyncio.sleep(0.02)


@asynccontextmanager
async def healthy_client(
    server: LiveServer, query: str, variables: dict[str, Any]
) -> AsyncIterator[Healthy]:
    async with connect(ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        token = server.tokens["viewer"]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        payload = {"query": query, "variables": variables}
        await ws.send(json.dumps({"id": "healthy", "type": "subscribe", "payload": payload}))
        client = Healthy(ws)
        client.reading = reading = asyncio.create_task(client.read())
        try:
            yield client
        finally:
            reading.cancel()
            with suppress(asyncio.CancelledError):
                await reading


@dataclass
class Stalled:
    """What the stall scenario leaves behind, for the assertions."""

    server: LiveServer
    stalled: RawWebSocket
    healthy: Healthy
    log: list[int]


@asynccontextmanager
async def stall_scenario(database_url: str) -> AsyncIterator[Stalled]:
    """A stalled and a healthy subscriber with the same document (so a fan-out
    that shares work between identical subscriptions shares it between them),
    then EVENTS commits; yields once the healthy one has them all."""
    # Pings every 10 minutes: here only the outbound queue may act on the
    # stalled client, not the keepalive (which would drop it with 1011).
    settings = {"ws_outbox_frames": OUTBOX_FRAMES, "ws_ping_seconds": 600.0}
    async with live_server_async(database_url, **settings) as server, http_client(server) as http:
        journey_ids = await create_wide_journeys(http, JOURNEYS)
        stalled = await asyncio.to_thread(RawWebSocket, server, receive_buffer=4096)
        try:
            await asyncio.to_thread(stalled.init, server.tokens["viewer"])
            # No `after`: live events only, so both get the very same frames.
            stalled.subscribe("stalled", WIDE, {})
            async with healthy_client(server, WIDE, {}) as healthy:
                await asyncio.to_thread(wait_for_subscribers, server, 2)
                # One request of ten commits at a time: the healthy client's
                # queue never holds more than a handful of frames, far below
                # the 50 that would disconnect it too.
                writer = Writer(http, journey_ids, EVENTS, writers=1, batch=10)
                async with asyncio.timeout(TIMEOUT):
                    await writer.run()
                    log = await logged_sequences(http)
                    await healthy.until(log[-1])
                yield Stalled(server, stalled, healthy, log)
        finally:
            # Before the server stops: a socket that never reads could keep
            # its shutdown waiting for a flush that never comes.
            stalled.close()


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.timeout(3 * TIMEOUT)
async def test_a_stalled_client_does_not_delay_a_healthy_one(database_url: str):
    async with stall_scenario(database_url) as scene:
        assert scene.log == list(range(1, EVENTS + 1))
        assert scene.healthy.sequences == scene.log
        assert scene.healthy.closed is None
        # The premise: what the stalled client was owed is far more than the
        # kernel buffers between it and the server can hold, so the server had
        # to keep (or drop) most of it.
        limit = max_send_buffer()
        assert scene.healthy.received_bytes > 3 * limit, (
            f"{scene.healthy.received_bytes} bytes of frames do not outgrow this host's "
            f"TCP send buffer ({limit} bytes at most): raise EVENTS"
        )


@pytest.mark.anyio
@pytest.mark.timeout(3 * TIMEOUT)
async def test_a_stalled_client_is_told_to_resume_with_4410_and_resumes_with_after(
    database_url: str,
):
    async with stall_scenario(database_url) as scene:
        sequences, ending = await asyncio.to_thread(read_until_the_end, scene.stalled, EVENTS)
        assert ending in (f"close {RESUME_WITH_AFTER}", "eof", "reset"), (
            f"after {len(sequences)} events the stalled client found {ending}"
        )
        # What reached it before the close is a gap-free start of the log...
        assert sequences == scene.log[: len(sequences)]
        assert len(sequences) < EVENTS
        # ...and `after` = the last one it saw gives it exactly the rest.
        after = sequences[-1] if sequences else 0
        async with healthy_client(scene.server, WIDE, {"after": after}) as resumed:
            async with asyncio.timeout(TIMEOUT):
                await resumed.until(scene.log[-1])
            assert sequences + resumed.sequences == scene.log


def read_until_the_end(client: RawWebSocket, events: int) -> tuple[list[int], str]:
    """The sequences the stalled client finally reads, and how its connection ended:
    "close <code>", "eof", "reset", or "open" if it got every event and no close."""
    sequences: list[int] = []
    try:
        while True:
            message = client.read_message(timeout=TIMEOUT if len(sequences) < events else 2.0)
            assert message["type"] == "next" and message["id"] == "stalled", message
            sequences.append(message["payload"]["data"]["statusChanged"]["sequence"])
    except Closed as closed:
        return sequences, f"close {closed.code}"
    except EOFError:
        return sequences, "eof"
    except ConnectionResetError:
        return sequences, "reset"
    except TimeoutError:
        return sequences, "open"


def test_a_client_that_never_answers_pings_is_dropped(database_url: str):
    with live_server(database_url, ws_ping_seconds=0.5) as server:
        with server.websocket() as healthy:  # websockets answers pings in the background
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": NARROW}}
            healthy.send(json.dumps(subscribe))
            dead = RawWebSocket(server)
            try:
                dead.init(server.tokens["viewer"])
                dead.subscribe("1", NARROW, {})
                # From here on it neither reads nor answers: a pulled cable.
                took = wait_until_the_server_hangs_up(dead)
                assert took < 10, f"the dead client was dropped only after {took:.1f}s"
            finally:
                dead.close()
            wait_for_subscribers(server, 1)  # it let go of the dead one's subscription

            # The healthy client answered every ping meanwhile: still served.
            journey_id = server.data(
                "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }",
                {"input": wide_input(0)},
            )["createJourney"]["id"]
            server.data(
                "mutation($id: ID!) { activateJourney(id: $id) { id } }", {"id": journey_id}
            )
            event = next_message(healthy, timeout=TIMEOUT)
            assert event["payload"]["data"]["statusChanged"]["journeyId"] == journey_id
        wait_for_subscribers(server, 0)


TCP_ESTABLISHED = 1


def wait_until_the_server_hangs_up(client: RawWebSocket) -> float:
    """Seconds until the server ends the TCP connection (FIN or RST), watched
    through the socket's TCP state so that the client still reads nothing."""
    started = time.monotonic()
    while client.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_ESTABLISHED:
        assert time.monotonic() - started < TIMEOUT, "the server never dropped the dead client"
        time.sleep(0.02)
    return time.monotonic() - started
