"""A real HTTP receiver for the webhook channel, on 127.0.0.1 in a thread: it records
every request and answers what the test tells it to (a status, after a delay)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def attempt(self) -> int:
        return int(self.json["attempt"])

    @property
    def delivery_id(self) -> str:
        """What a receiver deduplicates on, as the body gives it (`deliveryId`); the
        X-Journeys-Delivery header must say the same."""
        found = self.json["deliveryId"]
        assert self.headers[DELIVERY_HEADER.lower()] == found, "header and body disagree"
        return str(found)

    def verifies_with(self, secret: str) -> bool:
        return verify(
            secret,
            self.headers[TIMESTAMP_HEADER.lower()],
            self.body,
            self.headers[SIGNATURE_HEADER.lower()],
        )


class Receiver:
    def __init__(self) -> None:
        self.status = 200  # what it answers
        self.delay = 0.0  # seconds it waits before answering
        self.requests: list[Received] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/journeys?tag=test"

    def answer(self, status: int, delay: float = 0.0) -> None:
        self.status, self.delay = status, delay

    def bodies(self) -> list[Any]:
        with self._lock:
            return [request.json for request in self.requests]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        with self._lock:
            self.requests.append(
                Received(handler.path, {k.lower(): v for k, v in handler.headers.items()}, body)
            )
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            status, delay = self.status, self.delay
        try:
            if delay:
                time.sleep(delay)
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        finally:
            with self._lock:
                self.in_flight -= 1

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


@contextmanager
def receiving() -> Iterator[Receiver]:
    with Receiver().running() as receiver:
        yield receiver
