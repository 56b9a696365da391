"""The main views with a workspace full of journeys, at desktop and phone width:
screenshots for people (tests/browser/artifacts/, one in the README), and the
checks that make them usable: no layout shift while counters tick, nothing
wider than the phone's screen, and GraphiQL working from local files."""

from __future__ import annotations

from datetime import timedelta

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, DashboardServer, screenshot
from tests.browser.test_dashboard import ENROLL, LIVE, act, count, create, log_in, problems, row
from tests.conftest import T0


def iso(**delta: float) -> str:
    return (T0 + timedelta(**delta)).isoformat().replace("+00:00", "Z")


def workspace(server: DashboardServer) -> dict[str, str]:
    """Journeys in every status, with customers, dates and some history."""
    log = lambda template: {"type": "SEND", "channel": "log", "template": template}  # noqa: E731
    ids = {
        "welcome": create(
            server,
            "Welcome series",
            labels=["onboarding"],
            steps=[log("welcome"), {"type": "WAIT", "seconds": 7 * 86400}, log("tips")],
        ),
        "spring": create(
            server,
            "Spring sale",
            kind="SEGMENT_SCHEDULED",
            triggerEvent=None,
            labels=["promo"],
            audience=[f"c{n}" for n in range(250)],
            startAt=iso(days=9),
            endAt=iso(days=23),
            steps=[log("sale")],
        ),
        "winback": create(
            server,
            "Win-back",
            labels=["retention"],
            endAt=iso(days=20),
            sendDelaySeconds=3600,
            steps=[{"type": "WAIT", "seconds": 86400}, log("miss-you")],
        ),
        "friday": create(server, "Black Friday teaser", labels=["promo"], endAt=iso(days=30)),
        "birthday": create(server, "Birthday club", labels=["loyalty"]),
        "partner": create(server, "Partner feed"),
        "newsletter": create(server, "Old newsletter"),
        "summer": create(
            server, "Summer draft", labels=["promo"], startAt=iso(days=28), endAt=iso(days=40)
        ),
    }
    for key in ("welcome", "spring", "winback", "friday", "birthday", "partner", "newsletter"):
        act(server, "activateJourney", ids[key])
    server.data(ENROLL, {"id": ids["welcome"], "ids": [f"w{n}" for n in range(40)]})
    server.data(ENROLL, {"id": ids["winback"], "ids": [f"b{n}" for n in range(12)]})
    server.clock.advance(days=1)
    act(server, "pauseJourney", ids["winback"])
    act(server, "freezeJourney", ids["friday"])
    server.clock.advance(hours=12)
    act(server, "resumeJourney", ids["winback"])
    act(server, "closeJourney", ids["birthday"])
    server.clock.advance(hours=12)
    act(server, "pauseJourney", ids["winback"])
    act(server, "abortJourney", ids["newsletter"])
    fail = "mutation($id: ID!, $why: String) { markJourneyError(id: $id, reason: $why) { status } }"
    server.data(fail, {"id": ids["partner"], "why": "the partner API is down"}, as_="admin")
    server.clock.advance(hours=3)
    return ids


SHIFTS = """() => {
  window.__shift = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.hadRecentInput) continue;
      window.__shift += entry.value;
      const moved = entry.sources.map((s) => `${s.node?.outerHTML?.slice(0, 80)}: ` +
        `${JSON.stringify(s.previousRect)} -> ${JSON.stringify(s.currentRect)}`);
      window.__shifted = (window.__shifted || []).concat(moved);
    }
  }).observe({ type: "layout-shift" });
}"""


def settle(page: Page, ids: dict[str, str]) -> None:
    expect(page.locator("tbody tr")).to_have_count(len(ids), timeout=LIVE)
    for status in (
        "DESIGNING",
        "SCHEDULED",
        "ACTIVE",
        "PAUSED",
        "CLOSED",
        "FROZEN",
        "ERROR",
        "ABORTED",
    ):
        expect(count(page, status)).to_have_text("1", timeout=LIVE)


def test_the_main_views_at_desktop_and_phone_width(
    page: Page, server: DashboardServer, context: BrowserContext
) -> None:
    ids = workspace(server)
    context.clock.set_fixed_time(server.clock.now())
    log_in(page, server)
    settle(page, ids)
    expect(page.locator(".tl-bar")).to_have_count(7)  # all but the aborted one
    expect(page.locator('.tl-bar[data-status="SCHEDULED"]')).to_be_visible()

    # Counters tick and statuses change: nothing on the page moves.
    page.evaluate(SHIFTS)
    server.data(ENROLL, {"id": ids["welcome"], "ids": [f"x{n}" for n in range(1000, 1011)]})
    expect(row(page, ids["welcome"]).locator('[data-stat="inside"]')).to_have_text(
        "51", timeout=LIVE
    )
    act(server, "resumeJourney", ids["winback"])
    expect(row(page, ids["winback"]).locator(".badge")).to_have_text("ACTIVE", timeout=LIVE)
    expect(count(page, "ACTIVE")).to_have_text("2", timeout=LIVE)
    act(server, "pauseJourney", ids["winback"])
    expect(count(page, "PAUSED")).to_have_text("1", timeout=LIVE)
    page.wait_for_timeout(600)
    # Chromium scores a right-aligned number whose digits change as a text
    # node shift of some 1e-5; anything that moves boxes scores 100 times more.
    assert page.evaluate("window.__shift") < 0.001, page.evaluate("window.__shifted")
    screenshot(page, "dashboard-desktop")
    page.locator(".timeline").screenshot(path=str(screenshot(page, "timeline-desktop")))

    row(page, ids["welcome"]).get_by_role("button", name="Welcome series").click()
    panel = page.locator(".panel")
    expect(panel.locator('[data-step="2"]')).to_have_text("51 customers")
    expect(panel.locator(".strip span")).to_have_count(2)  # DESIGNING, then ACTIVE
    screenshot(page, "journey-panel-desktop")
    panel.get_by_role("button", name="Close the panel").click()
    row(page, ids["winback"]).get_by_role("button", name="Win-back").click()
    expect(panel.locator(".strip span")).to_have_count(7)  # with the resume and pause above
    expect(panel.locator(".strip")).to_have_attribute(
        "aria-label",
        "Status over time: DESIGNING under a minute, then ACTIVE 24 hours, then PAUSED 12 hours, "
        "then ACTIVE 12 hours, then PAUSED 3 hours, then ACTIVE under a minute, "
        "then PAUSED under a minute (now)",
    )
    panel.get_by_role("button", name="Abort").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This cannot be undone.")
    expect(dialog.get_by_role("button", name="Create a copy")).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # not the destructive one
    dialog.get_by_role("button", name="Create a copy").click()
    expect(panel.locator("#panel-title")).to_have_text("Copy of Win-back", timeout=LIVE)
    expect(panel.locator(".badge")).to_have_text("DESIGNING")
    expect(row(page, ids["winback"]).locator(".badge")).to_have_text("PAUSED")

    # Phone width: no horizontal scrolling of the page, the panel fills the screen.
    page.set_viewport_size(PHONE)
    panel.get_by_role("button", name="Close the panel").click()
    page.evaluate("window.scrollTo(0, 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(row(page, ids["welcome"]).locator(".badge")).to_be_visible()
    screenshot(page, "dashboard-phone")
    row(page, ids["welcome"]).get_by_role("button", name="Welcome series").click()
    expect(panel.locator('[data-step="2"]')).to_have_text("51 customers")
    assert panel.bounding_box()["width"] == PHONE["width"]  # type: ignore[index]
    screenshot(page, "journey-panel-phone")
    page.set_viewport_size(DESKTOP)
    assert problems(page) == []


def test_graphiql_runs_from_local_files(page: Page, server: DashboardServer) -> None:
    log_in(page, server)
    page.get_by_role("link", name="GraphiQL").click()
    # The token this tab signed in with fills the headers; the query runs.
    execute = page.locator(".graphiql-execute-button")
    expect(execute).to_be_visible(timeout=LIVE)
    execute.click()
    expect(page.locator(".result-window")).to_contain_text('"workspace": "acme"', timeout=LIVE)
    screenshot(page, "graphiql-desktop")
    # The explorer builds a query by ticking fields: the example's two off,
    # journeys and its totalCount on.
    page.get_by_role("button", name="Show GraphiQL Explorer").click()
    explorer = page.locator(".graphiql-plugin")
    for field in ("viewer", "statusCounts", "journeys", "totalCount"):
        explorer.get_by_text(field, exact=True).click()
    execute.click()
    expect(page.locator(".result-window")).to_contain_text('"totalCount": 0', timeout=LIVE)
    expect(page.locator(".result-window")).not_to_contain_text("workspace")
    screenshot(page, "graphiql-explorer-desktop")
    # Every request went to this server (the page fixture records any other).
    assert problems(page) == []
    ide = httpx.get(server.base_url + "/graphql", headers={"Accept": "text/html"})
    assert '<script src="/static/vendor/graphiql.min.js">' in ide.text
    assert '<script src="/static/vendor/graphiql-explorer.umd.js">' in ide.text
    assert "unpkg" not in ide.text and "https://" not in ide.text
