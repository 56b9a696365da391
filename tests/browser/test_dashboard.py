"""The dashboard at /, in Chromium, over a real server (see conftest.py).

Every change a test makes goes through the public API (as another user or
process would); the page must show it by itself, live.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from gql.events import subscriptions
from service.services import Services
from service.settings import Settings
from tests.browser.conftest import DashboardServer, in_thread, screenshot

STATUSES = ("DESIGNING", "SCHEDULED", "ACTIVE", "PAUSED", "CLOSED", "FROZEN", "ERROR", "ABORTED")
LIVE = 15_000  # ms: a generous wait for what should take well under a second

CREATE = """mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"""
JOURNEY = """query($id: ID!) { journey(id: $id) {
  status stats { queuedDeliveries handedOver inFlight held } } }"""
ENROLL = """mutation($id: ID!, $ids: [String!]!) {
  enrollCustomers(journeyId: $id, customerIds: $ids) { admitted } }"""
RENAME = "mutation($id: ID!, $name: String!) { renameJourney(id: $id, name: $name) { id } }"
LABELS = """mutation($id: ID!, $labels: [String!]!) {
  setJourneyLabels(id: $id, labels: $labels) { id } }"""
COPY = "mutation($id: ID!) { copyJourney(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteJourney(id: $id) }"


def create(server: DashboardServer, name: str, **fields: Any) -> str:
    journey = {
        "name": name,
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "signup",
        "steps": [{"type": "SEND", "channel": "log", "template": "welcome"}],
        **fields,
    }
    journey_id: str = server.data(CREATE, {"input": journey})["createJourney"]["id"]
    return journey_id


def act(server: DashboardServer, field: str, journey_id: str, *, as_: str = "editor") -> str:
    data = server.data(
        f"mutation($id: ID!) {{ {field}(id: $id) {{ status }} }}", {"id": journey_id}, as_=as_
    )
    status: str = data[field]["status"]
    return status


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def log_in(page: Page, server: DashboardServer, role: str = "editor") -> None:
    page.goto(server.base_url + "/")
    page.get_by_label("Access token").fill(server.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".conn")).to_have_attribute("data-state", "live", timeout=LIVE)


def row(page: Page, journey_id: str) -> Locator:
    return page.locator(f'tr[data-journey="{journey_id}"]')


def count(page: Page, status: str) -> Locator:
    return page.locator(f'.count[data-status="{status}"] .n')


def problems(page: Page, *, ignore: str | None = None) -> list[str]:
    found: list[str] = page.problems  # type: ignore[attr-defined]
    return [p for p in found if ignore is None or not re.search(ignore, p)]


def test_log_in_with_a_token(page: Page, server: DashboardServer) -> None:
    page.goto(server.base_url + "/")
    page.get_by_label("Access token").fill("jrn_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("That token was not accepted:")
    assert not re.search(r"[{}\[\]]", refusal.inner_text())  # a sentence, not JSON
    assert page.evaluate("sessionStorage.getItem('journeys.token')") is None

    page.get_by_label("Access token").fill(server.tokens["editor"])
    page.get_by_label("Access token").press("Enter")
    expect(page.locator(".bar .who")).to_have_text("acme · editor (editor)")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live", timeout=LIVE)
    expect(page.locator(".conn")).to_contain_text("live")
    assert server.tokens["editor"] not in page.url
    assert page.evaluate("sessionStorage.getItem('journeys.token')") == server.tokens["editor"]
    for status in STATUSES:  # all eight: name in text, colour, meaning as a tooltip
        tile = page.locator(f'.count[data-status="{status}"]')
        expect(tile).to_contain_text(status)
        expect(tile).to_have_attribute("title", re.compile(r".{30,}"))
        expect(count(page, status)).to_have_text("0")
    # A reload keeps this tab's session without asking again; signing out forgets it.
    page.reload()
    expect(page.locator(".conn")).to_have_attribute("data-state", "live", timeout=LIVE)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Access token")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('journeys.token')") is None
    assert problems(page) == []


def test_a_journey_created_through_the_api_appears_live(
    page: Page, server: DashboardServer
) -> None:
    log_in(page, server)
    expect(page.locator(".pager .where")).to_have_text("0 journeys")
    journey_id = create(server, "Welcome series", labels=["onboarding"])
    expect(row(page, journey_id)).to_contain_text("Welcome series", timeout=LIVE)
    expect(row(page, journey_id)).to_contain_text("DESIGNING")
    expect(row(page, journey_id)).to_contain_text("onboarding")
    expect(count(page, "DESIGNING")).to_have_text("1")

    # A status change appears at once: badge, counts, the latest changes.
    assert act(server, "activateJourney", journey_id) == "ACTIVE"
    expect(row(page, journey_id).locator(".badge")).to_have_text("ACTIVE", timeout=LIVE)
    expect(count(page, "ACTIVE")).to_have_text("1", timeout=LIVE)
    expect(count(page, "DESIGNING")).to_have_text("0", timeout=LIVE)
    expect(page.locator(".activity")).to_contain_text("Welcome series: DESIGNING → ACTIVE (editor)")

    # Live counters: customers entering move the row's numbers without a reload.
    server.data(ENROLL, {"id": journey_id, "ids": ["ann", "bob", "cy"]})
    expect(row(page, journey_id).locator('[data-stat="delivered"]')).to_have_text("3", timeout=LIVE)

    # Filters: by name, by label, by status.
    other = create(server, "Spring sale", labels=["promo"])
    expect(row(page, other)).to_be_visible(timeout=LIVE)
    page.get_by_label("Name").fill("spring")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(row(page, other)).to_be_visible()
    page.get_by_label("Name").fill("")
    page.get_by_label("Label").fill("onboarding")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(row(page, journey_id)).to_be_visible()
    page.get_by_label("Label").fill("")
    page.locator('select[name="status"]').select_option("DESIGNING")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(row(page, other)).to_be_visible()
    assert problems(page) == []


def test_journeys_created_edited_or_deleted_elsewhere_show_without_a_refresh(
    page: Page, server: DashboardServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None of these changes logs a status event. The page's one periodic
    # re-read (statusCountsChanged's, every 10 s, which re-reads the table
    # when the total moved) is an hour away here: only journeyChanged, and
    # the counts it moves, can show them.
    monkeypatch.setattr(subscriptions, "COUNTS_REFRESH_SECONDS", 3600.0)
    log_in(page, server)
    expect(page.locator(".pager .where")).to_have_text("0 journeys")

    journey_id = create(server, "Welcome series")
    expect(row(page, journey_id)).to_contain_text("Welcome series", timeout=LIVE)
    expect(count(page, "DESIGNING")).to_have_text("1", timeout=LIVE)
    server.data(RENAME, {"id": journey_id, "name": "Welcome aboard"})
    expect(row(page, journey_id).locator(".name")).to_have_text("Welcome aboard", timeout=LIVE)

    # The open panel follows as well.
    row(page, journey_id).get_by_role("button", name="Welcome aboard").click()
    panel = page.locator(f'[data-panel="{journey_id}"]')
    expect(panel.locator("#panel-title")).to_have_text("Welcome aboard")
    server.data(LABELS, {"id": journey_id, "labels": ["onboarding"]})
    expect(row(page, journey_id)).to_contain_text("onboarding", timeout=LIVE)
    expect(panel.locator(".facts")).to_contain_text("onboarding", timeout=LIVE)

    # A copy appears, and leaves when it is deleted.
    copied = server.data(COPY, {"id": journey_id})["copyJourney"]["id"]
    expect(row(page, copied)).to_contain_text("Copy of Welcome aboard", timeout=LIVE)
    expect(count(page, "DESIGNING")).to_have_text("2", timeout=LIVE)
    server.data(DELETE, {"id": copied})
    expect(row(page, copied)).to_have_count(0, timeout=LIVE)
    expect(count(page, "DESIGNING")).to_have_text("1", timeout=LIVE)
    assert problems(page) == []


def test_pause_from_the_page_tells_what_is_queued_and_what_went(
    page: Page, server: DashboardServer
) -> None:
    # Webhook messages, with no endpoint set: two handed over (their attempt
    # failed, a retry waits), three more queued inside the minute's recall window.
    steps = [{"type": "SEND", "channel": "webhook", "template": "hello"}]
    journey_id = create(server, "Winter promo", steps=steps, sendDelaySeconds=60)
    act(server, "activateJourney", journey_id)
    server.data(ENROLL, {"id": journey_id, "ids": ["ann", "bob"]})

    def read() -> Any:
        return server.data(JOURNEY, {"id": journey_id})["journey"]

    # Queued first (due a minute after their SEND step ran), then due.
    assert (
        eventually(read, lambda j: j["stats"]["queuedDeliveries"] == 2)["stats"]["queuedDeliveries"]
        == 2
    )
    server.clock.advance(seconds=61)

    handed = eventually(read, lambda j: j["stats"]["handedOver"] == 2)
    assert handed["stats"]["handedOver"] == 2, handed
    server.data(ENROLL, {"id": journey_id, "ids": ["cy", "dan", "eve"]})
    stats = eventually(read, lambda j: j["stats"]["queuedDeliveries"] == 3)["stats"]
    assert (stats["queuedDeliveries"], stats["handedOver"]) == (3, 2)

    log_in(page, server)
    row(page, journey_id).get_by_role("button", name="Winter promo").click()
    panel = page.locator(".panel")
    expect(panel.locator(".badge")).to_have_text("ACTIVE")
    panel.get_by_role("button", name="Pause").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("3 queued messages will be held until it runs again.")
    expect(dialog).to_contain_text(
        "2 messages already handed to their channels cannot be recalled."
    )
    screenshot(page, "pause-confirmation-desktop")
    dialog.get_by_label("Reason").fill("waiting for the new banner")
    dialog.locator('[data-confirm="PAUSE"]').click()
    expect(dialog).to_be_hidden()

    expect(panel.locator(".badge")).to_have_text("PAUSED", timeout=LIVE)
    expect(row(page, journey_id).locator(".badge")).to_have_text("PAUSED", timeout=LIVE)
    expect(count(page, "PAUSED")).to_have_text("1", timeout=LIVE)
    expect(count(page, "ACTIVE")).to_have_text("0", timeout=LIVE)
    history = panel.locator("table.history tbody tr")
    expect(history.last).to_contain_text("PAUSE: ACTIVE → PAUSED", timeout=LIVE)
    expect(history.last).to_contain_text("editor")
    expect(history.last).to_contain_text("waiting for the new banner")
    expect(page.locator(".notice")).to_contain_text(
        "Winter promo is now PAUSED. 3 queued messages held; 2 already handed over."
    )
    assert read()["status"] == "PAUSED"

    # Acting on what changed meanwhile: the API's sentence, and a reload offered.
    panel.get_by_role("button", name="Resume").click()
    expect(dialog).to_be_visible()
    act(server, "resumeJourney", journey_id)  # someone else was quicker
    dialog.locator('[data-confirm="RESUME"]').click()
    expect(dialog.get_by_role("alert")).to_contain_text("the journey changed since you read it")
    dialog.get_by_role("button", name="Reload the journey").click()
    expect(dialog).to_be_hidden()
    expect(panel.locator(".badge")).to_have_text("ACTIVE", timeout=LIVE)
    expect(panel.locator("[data-action]")).to_have_count(4)  # PAUSE FREEZE CLOSE ABORT
    expect(panel.locator('[data-action="RESUME"]')).to_have_count(0)
    assert problems(page) == []


def test_a_viewer_token_shows_no_buttons(page: Page, server: DashboardServer) -> None:
    journey_id = create(server, "Look only")
    act(server, "activateJourney", journey_id)
    log_in(page, server, "viewer")
    expect(page.locator(".bar .who")).to_contain_text("(viewer)")
    row(page, journey_id).get_by_role("button", name="Look only").click()
    panel = page.locator(".panel")
    expect(panel.locator(".badge")).to_have_text("ACTIVE")
    expect(panel.locator(".actions")).to_contain_text("Your token may look but not act")
    expect(panel.locator(".actions button")).to_have_count(0)
    expect(page.locator("[data-action]")).to_have_count(0)
    # The editor's panel offers exactly the journey's availableActions.
    editor = server.data(
        "query($id: ID!) { journey(id: $id) { availableActions } }", {"id": journey_id}
    )["journey"]["availableActions"]
    assert editor == ["PAUSE", "FREEZE", "CLOSE", "ABORT"]
    assert problems(page) == []


def test_the_page_reconnects_after_a_restart_and_shows_what_changed_meanwhile(
    page: Page, server: DashboardServer
) -> None:
    journey_id = create(server, "Night shift")
    log_in(page, server)
    act(server, "activateJourney", journey_id)
    expect(row(page, journey_id).locator(".badge")).to_have_text("ACTIVE", timeout=LIVE)

    server.stop()
    expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting", timeout=LIVE)
    expect(page.locator(".conn")).to_contain_text("reconnecting")
    # During the outage another server on the same database takes a change.
    other = DashboardServer(server.database_url, server.clock, server.tokens)
    other.start()
    assert act(other, "pauseJourney", journey_id) == "PAUSED"
    other.stop()
    time.sleep(1)  # the page keeps trying meanwhile
    expect(row(page, journey_id).locator(".badge")).to_have_text("ACTIVE")

    server.start()  # the same port
    expect(page.locator(".conn")).to_have_attribute("data-state", "live", timeout=LIVE)
    expect(row(page, journey_id).locator(".badge")).to_have_text("PAUSED", timeout=LIVE)
    expect(count(page, "PAUSED")).to_have_text("1", timeout=LIVE)
    # Replayed from the log with `after`, not just re-read: it is in the feed.
    expect(page.locator(".activity")).to_contain_text("Night shift: ACTIVE → PAUSED (editor)")
    # Live again afterwards.
    act(server, "resumeJourney", journey_id)
    expect(row(page, journey_id).locator(".badge")).to_have_text("ACTIVE", timeout=LIVE)
    # The browser reports each refused reconnection attempt; nothing else.
    assert problems(page, ignore=r"WebSocket connection to .* failed") == []


def test_keyboard_only_reaches_and_triggers_an_action(page: Page, server: DashboardServer) -> None:
    journey_id = create(server, "Keyboard flow")
    act(server, "activateJourney", journey_id)
    page.goto(server.base_url + "/")
    # The field takes the focus once the page's module has run; keys typed
    # before then go nowhere, as they would for a person typing too soon.
    expect(page.get_by_label("Access token")).to_be_focused()
    page.keyboard.type(server.tokens["editor"])
    page.keyboard.press("Enter")
    expect(page.locator(".conn")).to_have_attribute("data-state", "live", timeout=LIVE)
    expect(row(page, journey_id)).to_be_visible()

    def tab_to(selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to(f'[data-open="{journey_id}"]')
    page.keyboard.press("Enter")
    expect(page.locator("#panel-title")).to_be_focused()
    tab_to('[data-action="PAUSE"]')
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-confirm="PAUSE"]')).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".panel .badge")).to_have_text("PAUSED", timeout=LIVE)
    # Escape closes the panel and gives the focus back to the journey's row.
    page.locator("#panel-title").focus()
    page.keyboard.press("Escape")
    expect(page.locator(".panel")).to_have_count(0)
    expect(page.locator(f'[data-open="{journey_id}"]')).to_be_focused()
    assert problems(page) == []


def test_reactivate_says_when_pending_edits_apply(page: Page, server: DashboardServer) -> None:
    journey_id = create(server, "Loyalty points")
    act(server, "activateJourney", journey_id)
    act(server, "closeJourney", journey_id)
    steps = [{"type": "SEND", "channel": "log", "template": "points-v2"}]
    server.data(
        "mutation($id: ID!, $input: UpdateJourneyInput!) { updateJourney(id: $id, input: $input) "
        "{ hasUnappliedChanges } }",
        {"id": journey_id, "input": {"steps": steps}},
    )
    log_in(page, server)
    row(page, journey_id).get_by_role("button", name="Loyalty points").click()
    panel = page.locator(".panel")
    expect(panel).to_contain_text("1 (version 2 pending)")
    panel.get_by_role("button", name="Reactivate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Its pending edits (version 2) apply now, as it reactivates.")
    dialog.locator('[data-confirm="REACTIVATE"]').click()
    expect(panel.locator(".badge")).to_have_text("ACTIVE", timeout=LIVE)
    expect(panel).to_contain_text("Live version2")
    assert problems(page) == []


def test_reactivate_says_who_leaves_at_the_nodes_the_edits_remove(
    page: Page, server: DashboardServer
) -> None:
    nodes = [
        {"key": "wait", "type": "WAIT", "seconds": 3600, "next": "thanks"},
        {"key": "thanks", "type": "SEND", "channel": "log", "template": "thanks"},
    ]
    journey_id = create(server, "Winback", steps=None, nodes=nodes)
    act(server, "activateJourney", journey_id)
    for customer in ("ann", "bob"):
        server.data(
            'mutation($c: String!) { trackEvent(name: "signup", customerId: $c) '
            "{ entered { id } } }",
            {"c": customer},
        )
    at_wait = "query($id: ID!) { journey(id: $id) { nodes { key at } } }"
    eventually(
        lambda: server.data(at_wait, {"id": journey_id})["journey"]["nodes"][0]["at"],
        lambda at: at == 2,
    )
    act(server, "pauseJourney", journey_id)
    server.data(
        "mutation($id: ID!, $input: UpdateJourneyInput!) { updateJourney(id: $id, input: $input) "
        "{ hasUnappliedChanges } }",
        {"id": journey_id, "input": {"nodes": [nodes[1]]}},
    )
    log_in(page, server)
    row(page, journey_id).get_by_role("button", name="Winback").click()
    panel = page.locator(".panel")
    panel.get_by_role("button", name="Reactivate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(
        "Node “wait” is removed: the 2 customers at it leave the journey."
    )
    dialog.locator('[data-confirm="REACTIVATE"]').click()
    expect(panel.locator(".badge")).to_have_text("ACTIVE", timeout=LIVE)
    assert problems(page) == []


@pytest.mark.parametrize("server_settings", [{"token_recheck_seconds": 0.5}])
def test_a_token_revoked_while_the_page_is_open_signs_it_out(
    page: Page, server: DashboardServer
) -> None:
    log_in(page, server, "viewer")

    async def revoke() -> None:
        services = Services.embedded(Settings(database_url=server.database_url), clock=server.clock)
        try:
            await services.tokens.revoke("acme", "viewer")
        finally:
            await services.close()

    in_thread(lambda: asyncio.run(revoke()))
    server.clock.advance(seconds=6)  # past the five seconds a checked token is trusted
    expect(page.get_by_role("alert")).to_contain_text("Signed out:", timeout=LIVE)
    expect(page.get_by_label("Access token")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('journeys.token')") is None
    assert problems(page) == []


def test_a_refusal_is_shown_as_the_apis_sentence(page: Page, server: DashboardServer) -> None:
    journey_id = create(server, "Partner sync")
    act(server, "activateJourney", journey_id)
    log_in(page, server, "admin")
    row(page, journey_id).get_by_role("button", name="Partner sync").click()
    panel = page.locator(".panel")
    panel.get_by_role("button", name="Mark as failed").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("everything is held until an admin recovers it")
    act(server, "abortJourney", journey_id)  # meanwhile, elsewhere
    dialog.locator('[data-confirm="FAIL"]').click()  # FAIL carries no revision
    refusal = dialog.get_by_role("alert")
    expect(refusal).to_contain_text("FAIL is not allowed from ABORTED")
    expect(refusal.get_by_role("button", name="Reload the journey")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(panel.locator(".badge")).to_have_text("ABORTED", timeout=LIVE)
    expect(panel.locator("[data-action]")).to_have_count(0)
    assert problems(page) == []


def test_the_indicator_says_offline_when_the_browser_is(
    page: Page, server: DashboardServer, context: BrowserContext
) -> None:
    log_in(page, server)
    server.stop()
    context.set_offline(True)
    expect(page.locator(".conn")).to_have_attribute("data-state", "offline", timeout=LIVE)
    expect(page.locator(".conn")).to_contain_text("offline")
    context.set_offline(False)
    server.start()
    expect(page.locator(".conn")).to_have_attribute("data-state", "live", timeout=LIVE)
    refused = r"WebSocket connection to .* failed|ERR_INTERNET_DISCONNECTED"
    assert problems(page, ignore=refused) == []
