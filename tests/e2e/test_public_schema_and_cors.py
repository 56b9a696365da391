"""JOURNEYS_PUBLIC_SCHEMA switches introspection and GraphiQL off together, and
JOURNEYS_CORS_ORIGINS lets the named origins' pages call the API (none by default)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import LiveServer, live_server
from tests.environment import settings_in

pytestmark = pytest.mark.e2e

INTROSPECTION = "{ __schema { queryType { name } } }"
APP = "https://app.example.com"


@pytest.fixture
def sealed(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, public_schema=False, cors_origins=(APP,)) as live:
        yield live


def test_an_embedded_server_shows_its_schema_and_graphiql(server: LiveServer) -> None:
    assert server.data(INTROSPECTION)["__schema"]["queryType"]["name"] == "Query"
    page = httpx.get(f"{server.base_url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_a_sealed_schema_refuses_introspection_and_serves_no_graphiql(sealed: LiveServer) -> None:
    refused = sealed.post(INTROSPECTION)
    assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", refused
    assert "introspection" in refused["errors"][0]["message"].lower()
    assert sealed.data("{ viewer { role } }") == {"viewer": {"role": "EDITOR"}}
    page = httpx.get(f"{sealed.base_url}/graphql", headers={"Accept": "text/html"})
    assert not page.headers["content-type"].startswith("text/html"), page.text


def test_only_the_configured_origins_get_cors_answers(
    server: LiveServer, sealed: LiveServer
) -> None:
    preflight = {"Origin": APP, "Access-Control-Request-Method": "POST"}
    allowed = httpx.options(f"{sealed.base_url}/graphql", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == APP
    other = httpx.options(
        f"{sealed.base_url}/graphql", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers
    default = httpx.options(f"{server.base_url}/graphql", headers=preflight)
    assert "access-control-allow-origin" not in default.headers


def test_the_default_follows_the_mode() -> None:
    assert settings_in({}).schema_is_public
    distributed = {"DATABASE_URL": "postgresql://db/j", "REDIS_URL": "redis://r:6379/0"}
    assert not settings_in(distributed).schema_is_public
    assert settings_in({**distributed, "JOURNEYS_PUBLIC_SCHEMA": "on"}).schema_is_public
    assert settings_in({"JOURNEYS_CORS_ORIGINS": f" {APP}, https://b.example "}).cors_origins == (
        APP,
        "https://b.example",
    )
