"""Limits on what a client may send, checked before the work it would cost.

- At the HTTP door (`RequestLimits`, an ASGI middleware): the request body's
  size (413 as soon as the declared length or the bytes received pass
  `JOURNEYS_MAX_BODY_BYTES`, without reading the rest) and the time it may
  take to arrive (408 after `JOURNEYS_BODY_TIMEOUT_SECONDS`). The routes in
  `UNCAPPED_ROUTES` are the one exception, and have limits of their own.
"""

from __future__ import annotations

import asyncio
import logging
import re

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.refusals import Refusal, media_type_for

log = logging.getLogger(__name__)

# Routes whose request body is not capped here: (method, path pattern). The
# audience upload streams a list of any size and enforces its own limit.
# This is the one place that exempts a route from JOURNEYS_MAX_BODY_BYTES.
UNCAPPED_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"/journeys/[^/]+/audience")),
)


def is_uncapped(method: str, path: str) -> bool:
    return any(method == m and pattern.fullmatch(path) for m, pattern in UNCAPPED_ROUTES)


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


class RequestLimits:
    """The request body's size and time, enforced while it streams in."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_seconds: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds

    def too_large(self) -> Refusal:
        return Refusal(
            413,
            "REQUEST_TOO_LARGE",
            f"The request body is larger than the {self.max_body_bytes} bytes this server "
            "accepts (JOURNEYS_MAX_BODY_BYTES).",
            headers={"connection": "close"},
            extensions={"limit": self.max_body_bytes},
        )

    def too_slow(self) -> Refusal:
        return Refusal(
            408,
            "REQUEST_TIMEOUT",
            f"The request body did not arrive within {self.body_timeout_seconds:g} seconds "
            "(JOURNEYS_BODY_TIMEOUT_SECONDS).",
            headers={"connection": "close"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_uncapped(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        accept = headers.get(b"accept", b"").decode("latin-1")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self.too_large().response(media_type_for(accept))(scope, receive, send)
            return

        loop = asyncio.get_running_loop()
        received = 0
        body_done = False
        deadline: float | None = None
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, deadline
            if body_done:
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.body_timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyTooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
                body_done = not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except (_BodyTooLarge, _BodyTooSlow) as error:
            refusal = self.too_large() if isinstance(error, _BodyTooLarge) else self.too_slow()
            log.info("refused a request to %s: %s", scope["path"], refusal.message)
            if not response_started:
                await refusal.response(media_type_for(accept))(scope, receive, send)
        except ClientDisconnect:
            # The client went away before its body was whole: nothing to answer.
            log.info("a client disconnected before sending its whole request to %s", scope["path"])
