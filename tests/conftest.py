"""Shared fixtures: a migrated database per test (SQLite and PostgreSQL), services
with a manual clock, and tokens for each role.

PostgreSQL is the one at 127.0.0.1:5432 (override with TEST_POSTGRES_URL).
When it cannot be reached its tests are skipped, unless JOURNEYS_REQUIRE_POSTGRES=1
(CI sets it), where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from domain.actions import Role
from service.clock import ManualClock
from service.services import Services
from service.settings import Settings
from service.tokens import Principal
from store.migrate import upgrade

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
TABLES = (
    "customer_events",
    "customers",
    "audience_loads",
    "audience_members",
    "audience_lists",
    "webhook_endpoints",
    "deliveries",
    "enrollments",
    "journey_stats",
    "node_counters",
    "status_events",
    "journey_labels",
    "journey_versions",
    "journeys",
    "api_tokens",
    "workspaces",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return str(error).strip()


@contextmanager
def fresh_postgres_schema(prefix: str) -> Iterator[str]:
    """A URL on a new, empty PostgreSQL schema, dropped afterwards; skips the test
    when PostgreSQL is unreachable (fails it under JOURNEYS_REQUIRE_POSTGRES=1)."""
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("JOURNEYS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "journeys.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    with fresh_postgres_schema("journeys_test") as url:
        upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database; every test runs on both backends."""
    if request.param == "sqlite":
        path = tmp_path / "journeys.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_schema_url")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def services(database_url: str, clock: ManualClock) -> AsyncIterator[Services]:
    services = Services.embedded(Settings(database_url=database_url), clock=clock)
    yield services
    await services.close()


@dataclass
class Callers:
    """A principal per role in workspace `acme`, and an admin of workspace `other`."""

    viewer: Principal
    editor: Principal
    admin: Principal
    outsider: Principal
    tokens: dict[str, str]


@pytest.fixture
async def callers(services: Services) -> Callers:
    tokens = {
        "viewer": await services.tokens.create("acme", Role.VIEWER, "vera"),
        "editor": await services.tokens.create("acme", Role.EDITOR, "eddie"),
        "admin": await services.tokens.create("acme", Role.ADMIN, "ada"),
        "outsider": await services.tokens.create("other", Role.ADMIN, "otto"),
    }
    found = {
        name: await services.tokens.authenticate(f"Bearer {token}")
        for name, token in tokens.items()
    }
    return Callers(tokens=tokens, **found)


# Tests that start servers, workers or a browser run one after another within their
# pytest-xdist group, so that `make test`'s two workers run at most two of them at once:
# on this machine's two cores more would slow each other down, and their waits are for
# processes, not for the clock. Two groups of about the same length keep both workers busy.
_PROCESS_GROUPS = {
    "tests/e2e/": "servers",
    "tests/distributed/": "processes",
    "tests/browser/": "processes",
}


# tryfirst: xdist's own hook turns the mark into the group it schedules by, so
# the mark must be there before that hook runs.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for prefix, group in _PROCESS_GROUPS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker under `--dist loadgroup`, refuse to run ungrouped: a pytest
    that drops the group from the node id would let the process tests run at once."""
    if not session.config.getoption("loadgroup", default=False):
        return
    suffixes = tuple(f"@{group}" for group in _PROCESS_GROUPS.values())
    ungrouped = [
        item.nodeid
        for item in session.items
        if item.nodeid.startswith(tuple(_PROCESS_GROUPS)) and not item.nodeid.endswith(suffixes)
    ]
    if ungrouped:
        raise pytest.UsageError(
            f"pytest-xdist did not put {ungrouped[0]} in its group of process tests "
            "(see pyproject.toml's pin on pytest)"
        )
