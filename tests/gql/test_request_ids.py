"""Request ids: taken from the client when sane, made up otherwise, sent back, and on
every log line written while the request runs (cli/logs.py's filter and formatter)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cli.logs import JsonFormatter, RequestIdFilter
from gql.request_ids import RequestIds

log = logging.getLogger("tests.request_ids")


def app() -> Starlette:
    async def hello(_request: Request) -> PlainTextResponse:
        log.warning("inside the request")
        return PlainTextResponse("hi")

    application = Starlette(routes=[Route("/", hello)])
    application.add_middleware(RequestIds)
    return application


@pytest.fixture
def lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    log.removeHandler(handler)


def test_a_sane_request_id_is_kept_and_written_on_the_log(lines) -> None:
    with TestClient(app()) as client:
        answer = client.get("/", headers={"X-Request-Id": "proxy-42.a_b"})
    assert answer.headers["x-request-id"] == "proxy-42.a_b"
    [line] = lines()
    assert (line["message"], line["request_id"], line["level"]) == (
        "inside the request",
        "proxy-42.a_b",
        "WARNING",
    )


@pytest.mark.parametrize("given", [None, "", "x" * 65, "has space", "new\nline"])
def test_a_missing_or_odd_request_id_is_replaced(lines, given: str | None) -> None:
    headers = {"X-Request-Id": given} if given is not None else {}
    with TestClient(app()) as client:
        answer = client.get("/", headers=headers)
    made = answer.headers["x-request-id"]
    assert len(made) == 32 and made != given
    assert lines()[0]["request_id"] == made


def test_a_line_outside_any_request_has_no_request_id(lines) -> None:
    log.warning("between requests")
    assert "request_id" not in lines()[0]
