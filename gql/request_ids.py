"""A request id for every HTTP request and WebSocket: taken from the client's
`X-Request-Id` when it is a sane one (1 to 64 of letters, digits, `.`, `_`,
`-`), made up otherwise; sent back in the response's `X-Request-Id`, and
written on every log line made while the request runs (cli/logs.py), so one
id finds a request in the client's logs, the proxy's and ours.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: ContextVar[str | None] = ContextVar("journeys_request_id", default=None)
HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER and _SANE.fullmatch(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex


class RequestIds:
    """ASGI middleware: sets REQUEST_ID for the request and answers with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
