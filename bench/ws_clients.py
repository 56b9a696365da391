"""fanout.py's subscribers: N `graphql-transport-ws` clients in one process, and its handle.

The clients process (`python bench/ws_clients.py`, started by `ClientsProcess.start`) holds
all N connections on one event loop, each a `Subscriber` on websockets' sans-I/O protocol
that stamps every frame in `data_received`. The driver talks to it in JSON lines: a command
on its stdin, one answer on its stdout for each:

* `connect` (`url`, `token`, `count`, `concurrency`, `compression`, `timeout`): open N
  connections, each sending `connection_init` with the token and, once acked, subscribing
  with `SUBSCRIPTION`; answers how many opened, failures, seconds, the negotiated extensions;
* `collect` (`expect_status`, `timeout`): wait until every open connection has a new frame
  (or time is up); answers each connection's first new receipt time (None: missing), extra
  and malformed frames, the first frame, close codes from the server, the process's CPU;
* `close` (`timeout`): close every connection, answers how many had to be aborted.

EOF on its stdin ends it. It imports nothing of the project.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from harness import REPO, die_with_parent, raise_fd_limit, run_loop, tail
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import Response as HandshakeResponse
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

PROTOCOL = "graphql-transport-ws"
SUBSCRIPTION = (
    "subscription { statusChanged { sequence journeyId status previousStatus action at } }"
)
# One JSON line from the clients process carries a timestamp per subscriber.
PIPE_LIMIT = 1 << 25


class Subscriber(asyncio.Protocol):
    """One subscriber on websockets' sans-I/O protocol, straight on the event loop.

    A frame is stamped in `data_received`, before anything else runs: no reader task to wake,
    no message queue. With 10,000 connections in one process, the asyncio client of
    websockets cost this process roughly a fifth more CPU per frame, and on 2 cores that CPU
    is taken from the server under test.
    """

    def __init__(self, owner: Subscribers, index: int, url: str, compression: bool) -> None:
        self.owner = owner
        self.index = index
        self.protocol = ClientProtocol(
            parse_uri(url),
            subprotocols=[Subprotocol(PROTOCOL)],
            # The same offer as `websockets.connect(compression="deflate")` and, in effect,
            # as browsers: permessage-deflate.
            extensions=enable_client_permessage_deflate(None) if compression else None,
        )
        self.transport: asyncio.Transport | None = None
        self.acked = False
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future[None] = loop.create_future()
        # Marks a failure as seen even when the opener gave up waiting on it first.
        self.handshake.add_done_callback(lambda done: done.cancelled() or done.exception())
        self.lost: asyncio.Future[None] = loop.create_future()
        self.extensions = ""

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        stamp = time.time()
        self.protocol.receive_data(data)
        self._handle(stamp)

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._handle(time.time())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)
        if not self.owner.closing and self.acked:
            self.owner.close_codes[str(self.protocol.close_code)] += 1

    # -- the graphql-transport-ws side --------------------------------------------------

    def _handle(self, stamp: float) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, HandshakeResponse):
                if self.protocol.handshake_exc is not None:
                    self._fail(self.protocol.handshake_exc)
                    continue
                self.extensions = event.headers.get("Sec-WebSocket-Extensions", "")
                init = {"authorization": f"Bearer {self.owner.token}"}
                self._send({"type": "connection_init", "payload": init})
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                text = bytes(event.data).decode()
                if self.acked:
                    self.owner.receipts[self.index].append((stamp, text))
                    self.owner.received += 1
                elif json.loads(text).get("type") == "connection_ack":
                    self.acked = True
                    self._send({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
                    if not self.handshake.done():
                        self.handshake.set_result(None)
                else:
                    self._fail(ValueError(f"expected connection_ack, got {text[:200]}"))
        self._flush()  # pongs and close replies, which the protocol queues by itself

    def _send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())

    def _fail(self, error: Exception) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(error)
        self.abort()

    def _flush(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def close(self) -> None:
        """Start the close handshake; the server then closes TCP (TIME_WAIT on its side)."""
        if self.transport is not None and not self.transport.is_closing():
            self.protocol.send_close(1000)
            self._flush()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Subscribers:
    """N subscriber connections in one loop; each notes the time every frame arrives."""

    def __init__(self) -> None:
        self.subscribers: list[Subscriber | None] = []  # None: it never opened
        self.receipts: list[list[tuple[float, str]]] = []
        self.cursor: list[int] = []  # receipts already reported, per connection
        self.received = 0
        self.token = ""
        self.closing = False
        self.close_codes: Counter[str] = Counter()

    async def connect(self, command: dict[str, Any]) -> dict[str, Any]:
        count, timeout = int(command["count"]), float(command["timeout"])
        self.token = str(command["token"])
        self.subscribers = [None] * count
        self.receipts = [[] for _ in range(count)]
        self.cursor = [0] * count
        gate = asyncio.Semaphore(int(command["concurrency"]))
        failures: list[str] = []
        started = time.monotonic()

        async def open_one(index: int) -> None:
            async with gate:
                error: Exception | None = None
                for _attempt in range(3):
                    try:
                        self.subscribers[index] = await self._open(index, command, timeout)
                        return
                    except Exception as failed:  # refused, timed out, a handshake error: retry
                        error = failed
                        await asyncio.sleep(0.5)
                failures.append(f"{type(error).__name__}: {error}")

        try:
            await asyncio.wait_for(
                asyncio.gather(*(open_one(index) for index in range(count))), timeout
            )
        except TimeoutError:
            failures.append(f"not open within {timeout:.0f} s (--timeout)")
        opened = [one for one in self.subscribers if one is not None]
        # The load generator is not under test: keep the cyclic GC from pausing it
        # mid-round to walk the objects of N connections.
        gc.collect()
        gc.freeze()
        return {
            "opened": len(opened),
            "failed": count - len(opened),
            "failure_samples": sorted(set(failures))[:3],
            "seconds": time.monotonic() - started,
            "extensions": opened[0].extensions if opened else "",
        }

    async def _open(self, index: int, command: dict[str, Any], timeout: float) -> Subscriber:
        url = str(command["url"])
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        loop = asyncio.get_running_loop()
        _transport, subscriber = await asyncio.wait_for(
            loop.create_connection(
                lambda: Subscriber(self, index, url, bool(command["compression"])), host, int(port)
            ),
            timeout,
        )
        try:
            await asyncio.wait_for(asyncio.shield(subscriber.handshake), timeout)
        except BaseException:
            subscriber.abort()
            raise
        return subscriber

    def _pending(self) -> int:
        return sum(
            1
            for index, subscriber in enumerate(self.subscribers)
            if subscriber is not None
            and len(self.receipts[index]) <= self.cursor[index]
            and not subscriber.lost.done()
        )

    async def collect(self, command: dict[str, Any]) -> dict[str, Any]:
        """Wait until every open connection has a new frame (or time is up), then report."""
        expect_status: str | None = command.get("expect_status")
        deadline = time.monotonic() + float(command["timeout"])
        target = sum(self.cursor) + sum(1 for one in self.subscribers if one is not None)
        # Cheap check on the running total while frames arrive; the exact one only after.
        while time.monotonic() < deadline:
            if self.received >= target and self._pending() == 0:
                break
            await asyncio.sleep(0.02 if self.received < target else 0.1)
        cpu = time.process_time()  # before the checks below, which are not receiving
        times: list[float | None] = []
        extra = bad = 0
        bad_samples: list[str] = []
        first_frame: str | None = None
        for index, subscriber in enumerate(self.subscribers):
            if subscriber is None:
                continue
            new = self.receipts[index][self.cursor[index] :]
            self.cursor[index] = len(self.receipts[index])
            times.append(new[0][0] if new else None)
            extra += max(0, len(new) - 1)
            for _stamp, message in new[:1]:
                first_frame = first_frame or message
                problem = frame_problem(message, expect_status)
                if problem:
                    bad += 1
                    if len(bad_samples) < 3:
                        bad_samples.append(problem)
        return {
            "times": times,
            "extra": extra,
            "bad": bad,
            "bad_samples": bad_samples,
            "first_frame": first_frame,
            "closed_by_server": dict(self.close_codes),
            "cpu": cpu,
        }

    async def close(self, command: dict[str, Any]) -> dict[str, Any]:
        self.closing = True
        opened = [one for one in self.subscribers if one is not None]
        started = time.monotonic()
        for subscriber in opened:
            subscriber.close()
        waiting = [subscriber.lost for subscriber in opened if not subscriber.lost.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=float(command["timeout"]))
        aborted = 0
        for subscriber in opened:
            if not subscriber.lost.done():
                aborted += 1
                subscriber.abort()
        return {"closed": len(opened), "aborted": aborted, "seconds": time.monotonic() - started}


def frame_problem(message: str, expect_status: str | None) -> str | None:
    """Why a frame is not the expected `next` frame, or None."""
    try:
        frame = json.loads(message)
    except ValueError:
        return f"not JSON: {message[:200]}"
    if frame.get("type") != "next" or frame.get("id") != "1":
        return f"not a next frame for id 1: {message[:200]}"
    payload = frame.get("payload") or {}
    if payload.get("errors"):
        return f"errors: {message[:300]}"
    if expect_status is not None:
        status = ((payload.get("data") or {}).get("statusChanged") or {}).get("status")
        if status != expect_status:
            return f"status {status}, expected {expect_status}: {message[:200]}"
    return None


async def clients_main() -> None:
    """Commands as JSON lines on stdin, one JSON line answered on stdout for each."""
    raise_fd_limit()
    die_with_parent()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=PIPE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    subscribers = Subscribers()
    handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
        "connect": subscribers.connect,
        "collect": subscribers.collect,
        "close": subscribers.close,
    }
    # EOF means the driver is done (or gone): leave without waiting on anyone.
    while line := await reader.readline():
        command = json.loads(line)
        reply = await handlers[command["cmd"]](command)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    for subscriber in subscribers.subscribers:
        if subscriber is not None:
            subscriber.abort()


class ClientsProcess:
    """The driver's handle on one clients process."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log
        self.cpu: float | None = None  # its CPU seconds at its last collect, to take differences

    @classmethod
    async def start(cls, log: Path) -> ClientsProcess:
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).resolve()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                cwd=REPO,
                limit=PIPE_LIMIT,
                start_new_session=True,  # a Ctrl-C reaches only the driver, which stops it
            )
        return cls(process, log)

    async def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(
                f"the clients process gave no answer to {command['cmd']!r} within {timeout:.0f} s"
            ) from None
        if not line:
            await self.process.wait()
            raise RuntimeError(
                f"the clients process exited with {self.process.returncode}:\n{tail(self.log)}"
            )
        reply: dict[str, Any] = json.loads(line)
        return reply

    def kill(self) -> None:
        """For an error or Ctrl-C: it may be deep in a command and not reading its stdin."""
        if self.process.returncode is None:
            self.process.kill()

    async def stop(self) -> None:
        if self.process.returncode is None and self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


if __name__ == "__main__":
    run_loop(clients_main())
