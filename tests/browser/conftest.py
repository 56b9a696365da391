"""The dashboard in a real browser: Playwright driving Debian's Chromium over a
real LiveServer (tests/e2e/conftest.py).

Chromium comes from Debian's `chromium` package, /usr/bin/chromium (Playwright's
own browser download is not reachable here). When it is missing, the session
installs it with apt-get; these tests run, never skip. Screenshots go to
tests/browser/artifacts/ (JOURNEYS_ARTIFACTS overrides), kept by CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from service.clock import ManualClock
from tests.conftest import T0
from tests.e2e.conftest import LiveServer, make_tokens

CHROMIUM = "/usr/bin/chromium"
# As the machine's notes say: without the background-networking flags Chromium
# keeps trying Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("JOURNEYS_ARTIFACTS", Path(__file__).parent / "artifacts"))
DESKTOP = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}


def ensure_chromium() -> str:
    """/usr/bin/chromium, installed from Debian's packages if it is missing."""
    if not Path(CHROMIUM).exists():
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.fail(f"{CHROMIUM} is missing and there is no apt-get to install it")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [apt, "install", "-y", "chromium"]
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:  # the package lists may be stale: refresh them once
            subprocess.run([apt, "update"], capture_output=True, env=env, timeout=300)
            result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0 or not Path(CHROMIUM).exists():
            pytest.fail(
                f"could not install chromium:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
    return CHROMIUM


# Per module, not per session: while Playwright's sync API is open, its event
# loop counts as running in this thread, and the rest of the suite (asyncio.run)
# must find none.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = ensure_chromium()
    launched = playwright.chromium.launch(
        executable_path=executable, args=CHROMIUM_ARGS, headless=True, timeout=60_000
    )
    yield launched
    launched.close()


@dataclass
class DashboardServer(LiveServer):
    """A LiveServer killed and started again under an open page (on the same port,
    as every LiveServer): the page's open WebSocket must not hold a stop for long."""

    graceful_shutdown_seconds: float | None = 2


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: the browser tests are about the page; the API's behaviour on
    both databases is the other suites' business."""
    path = tmp_path / "journeys.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


T = TypeVar("T")


def in_thread(work: Callable[[], T]) -> T:
    """Run `work` (which may call asyncio.run) outside Playwright's event loop,
    which the sync API keeps running in this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result(timeout=60)


@pytest.fixture
def server_settings() -> dict[str, Any]:
    """Settings of the test's server; a test parametrizes it to change them."""
    return {}


@pytest.fixture
def server(database_url: str, server_settings: dict[str, Any]) -> Iterator[DashboardServer]:
    clock = ManualClock(T0)
    tokens = in_thread(lambda: make_tokens(database_url, clock))
    live = DashboardServer(database_url, clock, tokens, settings=server_settings)
    live.start()
    yield live
    live.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP)
    # The server's clock is at T0 (2030): the browser's "today" is too, so the
    # timeline shows the journeys the tests plan.
    ctx.clock.set_fixed_time(T0)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, server: DashboardServer) -> Iterator[Page]:
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )

    def outside(request: Any) -> None:
        if not request.url.startswith(
            (server.base_url, server.base_url.replace("http", "ws"))
        ) and not request.url.startswith("data:"):
            problems.append(f"request outside the app: {request.url}")

    tab.on("request", outside)
    tab.problems = problems  # type: ignore[attr-defined]
    yield tab
    tab.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
