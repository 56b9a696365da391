"""RequestLimits on its own (an ASGI app behind it that reads the whole body),
the routes it exempts, and the uvicorn internals gql/serving.py relies on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gql.limits import UNCAPPED_ROUTES, RequestLimits, is_uncapped
from gql.refusals import GRAPHQL_RESPONSE, JSON, media_type_for

LIMIT = 1024


async def _reader(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body and answers its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _call(method: str, path: str, chunks: list[bytes], headers=()) -> tuple[int, bytes, int]:
    """(status, body, chunks the client was asked for) of one request through RequestLimits."""
    app = RequestLimits(_reader, max_body_bytes=LIMIT, body_timeout_seconds=5)
    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    pending = list(chunks)
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, body, asked


def test_a_body_over_the_limit_is_refused_without_reading_the_rest():
    status, body, asked = _call("POST", "/graphql", [b"x" * 600] * 100)
    assert status == 413
    assert asked == 2  # 1,200 bytes: over the limit, the other 98 chunks never read
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    headers = [(b"content-length", b"999999"), (b"accept", GRAPHQL_RESPONSE.encode())]
    status, body, asked = _call("POST", "/graphql", [b"x"], headers)
    assert (status, asked) == (413, 0)
    assert json.loads(body)["errors"][0]["extensions"]["limit"] == LIMIT


def test_a_body_within_the_limit_passes():
    assert _call("POST", "/graphql", [b"x" * 512, b"x" * 512]) == (200, b"1024", 2)


def test_the_uploads_are_the_only_routes_exempt():
    # Exempt in one place, gql/limits.py's UNCAPPED_ROUTES: they have a limit of their own.
    assert [(method, pattern.pattern) for method, pattern in UNCAPPED_ROUTES] == [
        ("POST", "/journeys/[^/]+/audience"),
        ("POST", "/customers"),
    ]
    status, body, _ = _call("POST", "/journeys/abc/audience", [b"x" * 600] * 10)
    assert (status, body) == (200, b"6000")
    assert _call("POST", "/customers", [b"x" * 600] * 10)[:2] == (200, b"6000")
    assert _call("PUT", "/journeys/abc/audience", [b"x" * 600] * 10)[0] == 413
    assert _call("GET", "/customers", [b"x" * 600] * 10)[0] == 413
    assert not is_uncapped("POST", "/journeys/abc/audience/more")
    assert not is_uncapped("POST", "/customers/more")
    assert not is_uncapped("POST", "/graphql")


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", JSON),
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, application/json", JSON),
        ("text/html", JSON),
    ],
)
def test_the_response_media_type_follows_accept(accept: str | None, media_type: str):
    assert media_type_for(accept) == media_type


@pytest.mark.parametrize(
    "name", ["connection_made", "connection_lost", "on_message_begin", "on_headers_complete"]
)
def test_uvicorn_still_has_what_the_header_deadline_overrides(name: str):
    # gql/serving.py overrides these parser callbacks of uvicorn's httptools
    # protocol, and reads its `loop` and `transport`.
    assert callable(getattr(HttpToolsProtocol, name, None)), (
        f"uvicorn's HttpToolsProtocol has no {name}: adapt gql/serving.py"
    )
