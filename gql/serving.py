"""uvicorn's HTTP protocol with a deadline for a request's headers.

uvicorn times out an idle keep-alive connection, but not one that is sending
its request line and headers: a client trickling one byte at a time
(slowloris) would hold its connection, and a file descriptor, for ever. Each
request here must have sent all its headers within `header_timeout_seconds`
of its first byte (of the connection's opening, for the first request), or
is answered 408 and the connection closed. The body has its own deadline,
enforced by gql/limits.py's RequestLimits.

This subclasses uvicorn's httptools protocol and overrides the parser
callbacks `on_message_begin` and `on_headers_complete`, which are not part of
uvicorn's documented API: tests/gql/test_limits.py checks they are still
there, and tests/e2e/test_http_protocol.py that the deadline holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps(
        {
            "errors": [
                {
                    "message": f"The request's headers did not arrive within {seconds:g} "
                    "seconds (JOURNEYS_HEADER_TIMEOUT_SECONDS).",
                    "extensions": {"code": "REQUEST_TIMEOUT"},
                }
            ]
        },
        separators=(",", ":"),
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode()
    return head + body


def http_protocol(header_timeout_seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's `http` option: its httptools protocol with the header deadline."""
    timeout_response = _timeout_response(header_timeout_seconds)

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_deadline is None:
                self._arm_header_deadline()

        def on_headers_complete(self) -> None:
            self._disarm_header_deadline()
            super().on_headers_complete()

        def _arm_header_deadline(self) -> None:
            self._header_deadline = self.loop.call_later(
                header_timeout_seconds, self._headers_too_slow
            )

        def _disarm_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _headers_too_slow(self) -> None:
            self._header_deadline = None
            if self.transport.is_closing():
                return
            log.info("closed a connection whose request headers took too long")
            self.transport.write(timeout_response)
            self.transport.close()

    return HeaderDeadlineProtocol


# "Going away": the server is stopping; a client reconnects (to another process,
# or to this one once restarted) and resumes with `after`.
GOING_AWAY = 1001


class GoingAwayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (the one its "auto" picks), closing open sockets
    with 1001 when the server shuts down, where uvicorn's says 1012.

    `shutdown` is uvicorn's own but for the code; it uses attributes that are not
    part of uvicorn's documented API (tests/gql/test_serving.py checks them)."""

    def shutdown(self) -> None:
        self.stop_keepalive()
        if self.close_sent:
            if self.close_timer is not None:
                self.close_timer.cancel()
                self.close_timer = None
            self.transport.close()
            return
        if self.handshake_complete:
            self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
            self.conn.send_close(GOING_AWAY, "the server is going away: reconnect")
            self.transport.write(b"".join(self.conn.data_to_send()))
        else:
            self.send_500_response()
        self.transport.close()
