"""A real uvicorn server on a free port, in a thread, with a clock the test moves."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import ClientConnection, connect

from domain.actions import Role
from gql.app import create_app, serve_options
from jobs.runners import runners_for
from service.clock import ManualClock
from service.services import Services
from service.settings import Settings
from tests.conftest import T0

ROLES = {"viewer": Role.VIEWER, "editor": Role.EDITOR, "admin": Role.ADMIN}


@dataclass
class LiveServer:
    database_url: str
    clock: ManualClock
    tokens: dict[str, str] = field(default_factory=dict)
    # Settings other than the database, e.g. {"ws_outbox_frames": 50}.
    settings: dict[str, Any] = field(default_factory=dict)
    # The timer loop, step processor and loader; off where a test needs the
    # database to change only by its own requests.
    background_work: bool = True
    # 0: a free one, which `start` keeps, so a stopped server starts again
    # where its clients (a page's reconnecting socket) look for it.
    port: int = 0
    # At most this long for requests and sockets under way when it stops;
    # None: as `journeys serve` (serve_options).
    graceful_shutdown_seconds: float | None = None
    base_url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        # No rate limit unless a test asks for one: tests send as fast as they can.
        limits = {"mutation_rate_limit": ""}
        settings = Settings(database_url=self.database_url, **{**limits, **self.settings})
        services = Services.embedded(settings, clock=self.clock)
        sock = socket.socket()
        # As uvicorn binds its own: a server started again on its port must not
        # wait for its old connections' TIME_WAIT (both binds need the flag).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        app = create_app(services, runners_for(services) if self.background_work else [])
        options = serve_options(settings)
        if self.graceful_shutdown_seconds is not None:
            options["timeout_graceful_shutdown"] = min(
                options["timeout_graceful_shutdown"] or self.graceful_shutdown_seconds,
                self.graceful_shutdown_seconds,
            )
        config = uvicorn.Config(app, log_level="warning", lifespan="on", **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None

    # -- clients ------------------------------------------------------------

    def post(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = "editor"
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"} if as_ else {}
        response = httpx.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str = "editor"
    ) -> Any:
        body = self.post(query, variables, as_=as_)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def error(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = "editor"
    ) -> dict[str, Any]:
        body = self.post(query, variables, as_=as_)
        assert body.get("errors"), body
        error: dict[str, Any] = body["errors"][0]
        assert "code" in error.get("extensions", {}), error
        return error

    @contextmanager
    def websocket(
        self, *, as_: str = "viewer", protocol: str = "graphql-transport-ws"
    ) -> Iterator[ClientConnection]:
        url = self.base_url.replace("http", "ws") + "/graphql"
        with connect(url, subprotocols=[protocol], open_timeout=10) as ws:  # type: ignore[list-item]
            payload = {"authorization": f"Bearer {self.tokens[as_]}"}
            ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(ws.recv(timeout=10))
            assert ack["type"] == "connection_ack", ack
            yield ws


def make_tokens(database_url: str, clock: ManualClock) -> dict[str, str]:
    async def make() -> dict[str, str]:
        services = Services.embedded(Settings(database_url=database_url), clock=clock)
        try:
            tokens = {
                name: await services.tokens.create("acme", role, name)
                for name, role in ROLES.items()
            }
            tokens["outsider"] = await services.tokens.create("other", Role.ADMIN, "otto")
            return tokens
        finally:
            await services.close()

    return asyncio.run(make())


def start_server(database_url: str, settings: dict[str, Any]) -> LiveServer:
    """A started LiveServer on a manual clock at T0, with `settings` overrides."""
    clock = ManualClock(T0)
    live = LiveServer(database_url, clock, make_tokens(database_url, clock), settings=settings)
    live.start()
    return live


@contextmanager
def live_server(database_url: str, **settings: Any) -> Iterator[LiveServer]:
    live = start_server(database_url, settings)
    try:
        yield live
    finally:
        live.stop()


@asynccontextmanager
async def live_server_async(database_url: str, **settings: Any) -> AsyncIterator[LiveServer]:
    """`live_server` for async tests: making its tokens runs an event loop of its own."""
    live = await asyncio.to_thread(start_server, database_url, settings)
    try:
        yield live
    finally:
        await asyncio.to_thread(live.stop)


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url) as live:
        yield live


@pytest.fixture
def rechecking_server(database_url: str) -> Iterator[LiveServer]:
    """A server whose open sockets have their tokens checked every 50 ms. That
    interval is wall-clock time (the check loop sleeps); what the check trusts,
    and for how long, is on the test's clock."""
    with live_server(database_url, token_recheck_seconds=0.05) as live:
        yield live


# -- Node.js and the npm packages in tests/e2e/js -----------------------------

JS_DIR = Path(__file__).parent / "js"


def _installed_as_locked() -> bool:
    """Whether node_modules holds exactly what package-lock.json pins.

    npm records what it installed in node_modules/.package-lock.json: the
    lockfile's packages without the root entry.
    """
    try:
        installed = json.loads((JS_DIR / "node_modules" / ".package-lock.json").read_text())
        locked = json.loads((JS_DIR / "package-lock.json").read_text())
        wanted = {path: entry for path, entry in locked["packages"].items() if path}
        return bool(installed["packages"] == wanted)
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with tests/e2e/js/node_modules installed."""

    def unavailable(reason: str) -> NoReturn:
        if os.environ.get("JOURNEYS_REQUIRE_NODE") == "1":
            pytest.fail(f"Node.js is required (JOURNEYS_REQUIRE_NODE=1): {reason}")
        pytest.skip(reason)

    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are not both installed")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        unavailable(f"graphql-ws 6 needs Node 20 or later, this is {version}")
    # `npm ci` first deletes node_modules: a second install running at the same
    # time (another xdist worker, another run in this checkout) would delete what
    # this one installs, or fail with ENOTEMPTY. One lock, and a second look once held.
    with open(JS_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed_as_locked():
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=JS_DIR,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if result.returncode != 0:
                unavailable(f"npm ci failed in {JS_DIR}:\n{result.stdout}\n{result.stderr}")
    return node


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 30) -> Any:
    """What `read` answers once `done` says so, or after `seconds` (for the test's own
    assertion to show): for what the server's loops do in their own time."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def next_message(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
        if message["type"] not in ("ping", "pong", "ka"):
            return message


def gauge(server: LiveServer, name: str) -> int:
    """A gauge of the server's /metrics, read with prometheus_client's own parser."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return int(sample.value)
    raise AssertionError(f"no {name} in /metrics:\n{text}")
