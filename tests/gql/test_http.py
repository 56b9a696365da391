"""gql/http.py on its own: what it answers when something fails outside execution."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gql.http import GraphQLOverHTTP


class _DatabaseDown:
    async def principal(self) -> None:
        raise ConnectionError("the database is down")


class _View:
    async def get_context(self, request: Request, response: Response) -> Any:
        return _DatabaseDown()


def test_an_unexpected_failure_is_still_a_graphql_response(caplog: pytest.LogCaptureFixture):
    handler = GraphQLOverHTTP(_View())  # type: ignore[arg-type]

    async def endpoint(request: Request) -> Response:
        return await handler(request)

    app = Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/graphql", json={"query": "{ viewer { role } }"})

    with caplog.at_level(logging.ERROR, logger="gql.http"):
        response = asyncio.run(post())
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "errors": [
            {
                "message": "Something went wrong on our side; it has been logged.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ]
    }
    assert "the database is down" not in response.text
    assert [record.exc_info is not None for record in caplog.records] == [True]
