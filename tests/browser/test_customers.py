"""Customers in the dashboard, in Chromium over a real server (see conftest.py): a
segment journey's audience condition in words with its estimate in the journey's
panel, and a customer looked up by id (profile, journeys, latest events), at
desktop and phone width."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, DashboardServer, screenshot
from tests.browser.test_dashboard import LIVE, RENAME, act, create, log_in, problems, row

UPSERT = """mutation($customers: [CustomerInput!]!) {
  upsertCustomers(customers: $customers) { created updated rejected { customerId message } } }"""
TRACK = """mutation($name: String!, $id: String!, $properties: JSON) {
  trackEvent(name: $name, customerId: $id, properties: $properties) { entered { id } } }"""
BORN_IN_MAY_IN_VN = {
    "all": [
        {"attribute": {"name": "birthday", "op": "MONTH_IS", "value": 5}},
        {"attribute": {"name": "country", "op": "EQUALS", "value": "VN"}},
    ]
}


def upsert(server: DashboardServer, profiles: dict[str, dict[str, Any]]) -> None:
    customers = [{"id": id_, "attributes": attributes} for id_, attributes in profiles.items()]
    result = server.data(UPSERT, {"customers": customers})["upsertCustomers"]
    assert result["rejected"] == [], result


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_segment_journeys_audience_condition_and_estimate_in_the_panel(
    page: Page, server: DashboardServer
) -> None:
    upsert(
        server,
        {
            "ann": {"birthday": "1990-05-14", "country": "VN"},
            "bao": {"birthday": "1985-05-02", "country": "VN"},
            "chi": {"birthday": "2001-05-30", "country": "VN"},
            "dan": {"birthday": "1990-06-14", "country": "VN"},  # June
            "eve": {"birthday": "1990-05-14", "country": "FR"},  # not in VN
            "fay": {"country": "VN"},  # no birthday
        },
    )
    log = [{"type": "SEND", "channel": "log", "template": "birthday-offer"}]
    by_condition = create(
        server,
        "May birthdays in Vietnam",
        kind="SEGMENT_SCHEDULED",
        triggerEvent=None,
        audienceCondition=BORN_IN_MAY_IN_VN,
        steps=log,
    )
    by_list = create(
        server,
        "Spring sale",
        kind="SEGMENT_SCHEDULED",
        triggerEvent=None,
        audience=["ann", "bao"],
        steps=log,
    )
    words = server.data(
        "query($id: ID!) { journey(id: $id) { latestVersion { audienceConditionText } } }",
        {"id": by_condition},
    )["journey"]["latestVersion"]["audienceConditionText"]
    assert "May" in words and "VN" in words, words

    log_in(page, server)
    row(page, by_condition).get_by_role("button", name="May birthdays in Vietnam").click()
    panel = page.locator(".panel")
    audience = panel.get_by_role("region", name="Audience")
    expect(audience).to_be_visible(timeout=LIVE)
    expect(audience.locator("[data-condition]")).to_have_text(words)
    expect(audience.locator("[data-estimate]")).to_have_text(
        "About 3 customers match now", timeout=LIVE
    )
    expect(panel.locator("table.versions")).to_contain_text("audience by condition")

    # A profile changes and the journey is renamed elsewhere: the panel re-reads
    # (journeyChanged), and the estimate with it.
    upsert(server, {"dan": {"birthday": "1990-05-20"}, "eve": {"country": "VN"}})
    server.data(RENAME, {"id": by_condition, "name": "May birthdays (VN)"})
    expect(panel.locator("#panel-title")).to_have_text("May birthdays (VN)", timeout=LIVE)
    expect(audience.locator("[data-estimate]")).to_have_text(
        "About 5 customers match now", timeout=LIVE
    )
    page.evaluate("document.querySelector('.panel').scrollTop = 0")
    screenshot(page, "audience-condition-desktop")

    # Keyboard: Escape closes it, and the list journey's panel shows its list as before.
    page.keyboard.press("Escape")
    expect(panel).to_have_count(0)
    row(page, by_list).get_by_role("button", name="Spring sale").click()
    expect(panel.locator("#panel-title")).to_have_text("Spring sale", timeout=LIVE)
    expect(panel.locator("table.versions")).to_contain_text("1 step, 2 customers listed")
    expect(panel.locator("[data-audience]")).to_have_count(0)

    # Phone width: the panel fills the screen, the words wrap, nothing scrolls sideways.
    page.set_viewport_size(PHONE)
    page.keyboard.press("Escape")
    row(page, by_condition).get_by_role("button", name="May birthdays (VN)").click()
    expect(audience.locator("[data-estimate]")).to_have_text(
        "About 5 customers match now", timeout=LIVE
    )
    assert panel.bounding_box()["width"] == PHONE["width"]  # type: ignore[index]
    box = audience.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    for part in ("[data-condition]", "[data-estimate]"):
        scroll, client = audience.locator(part).evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert scroll <= client, part  # not cut off
    page.keyboard.press("Escape")
    page.evaluate("window.scrollTo(0, 0)")
    fits_the_phone(page)
    page.set_viewport_size(DESKTOP)
    assert problems(page) == []


def test_looking_a_customer_up_by_id(page: Page, server: DashboardServer) -> None:
    welcome = create(
        server,
        "Welcome series",
        steps=[
            {"type": "SEND", "channel": "log", "template": "welcome"},
            {"type": "WAIT", "seconds": 7 * 86400},
            {"type": "SEND", "channel": "log", "template": "tips"},
        ],
    )
    act(server, "activateJourney", welcome)
    upsert(
        server,
        {
            "ann-nguyen-0042": {
                "name": "Ann Nguyen",
                "country": "VN",
                "birthday": "1990-05-14",
                "plan": "pro",
                "orders": 7,
                "newsletter": True,
            }
        },
    )
    server.data(
        TRACK,
        {
            "name": "signup",
            "id": "ann-nguyen-0042",
            "properties": {"source": "ad", "campaign": "spring"},
        },
    )
    server.clock.advance(minutes=5)
    server.data(
        TRACK,
        {"name": "viewed_page", "id": "ann-nguyen-0042", "properties": {"path": "/pricing"}},
    )

    log_in(page, server)
    lookup = page.get_by_role("region", name="Look up a customer")
    # By keyboard: the field is labelled, Tab reaches the button, Enter runs it.
    field = page.get_by_label("Customer id")
    field.focus()
    field.press_sequentially("ann-nguyen-0042")
    page.keyboard.press("Tab")
    expect(lookup.get_by_role("button", name="Look up")).to_be_focused()
    page.keyboard.press("Enter")

    profile = lookup.locator('[data-customer="ann-nguyen-0042"]')
    expect(profile).to_be_visible(timeout=LIVE)
    expect(profile.get_by_role("heading", name="Customer “ann-nguyen-0042”")).to_be_visible()
    attributes = profile.locator("dl.attributes")
    expect(attributes.locator("dt")).to_have_text(
        ["birthday", "country", "name", "newsletter", "orders", "plan"]
    )
    expect(attributes.locator("dd")).to_have_text(
        ["1990-05-14", "VN", "Ann Nguyen", "true", "7", "pro"]
    )
    journeys = profile.locator("[data-customer-journeys] tbody tr")
    expect(journeys).to_have_count(1)
    expect(journeys.first).to_contain_text("Welcome series")
    expect(journeys.first.locator("td").nth(1)).to_have_text(
        "inside, next step 3"
    )  # after the wait
    events = profile.locator("[data-customer-events] tbody tr")
    expect(events).to_have_count(2)
    expect(events.nth(0)).to_contain_text("viewed_page")  # latest first
    expect(events.nth(0)).to_contain_text("path: /pricing")
    expect(events.nth(1)).to_contain_text("signup")
    expect(events.nth(1)).to_contain_text("source: ad · campaign: spring")
    expect(page.get_by_role("status").filter(has_text="Customer “ann-nguyen-0042”")).to_have_text(
        "Customer “ann-nguyen-0042”: 6 attributes, 1 journey, 2 events."
    )
    profile.scroll_into_view_if_needed()
    screenshot(page, "customer-lookup-desktop")

    # Its journey opens the journey's panel.
    journeys.first.get_by_role("button", name="Welcome series").click()
    expect(page.locator(".panel #panel-title")).to_have_text("Welcome series", timeout=LIVE)
    page.keyboard.press("Escape")

    # Nobody by that id.
    field.fill("nobody")
    field.press("Enter")
    expect(lookup.locator("[data-not-found]")).to_have_text("No customer with id “nobody”.")
    expect(profile).to_have_count(0)

    # Phone width: the profile reads in one column, nothing cut off or sideways.
    page.set_viewport_size(PHONE)
    field.fill("ann-nguyen-0042")
    field.press("Enter")
    expect(profile).to_be_visible(timeout=LIVE)
    profile.scroll_into_view_if_needed()
    fits_the_phone(page)
    for part in ("dl.attributes", "[data-customer-journeys]", "[data-customer-events]"):
        box = profile.locator(part).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], part
    sideways = profile.evaluate(
        "p => [...p.querySelectorAll('.table-scroll')].filter(e => e.scrollWidth > e.clientWidth)"
        ".length"
    )
    assert sideways == 0
    clipped = profile.evaluate(
        "p => [...p.querySelectorAll('dt, dd, td, th, h3, h4')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
    )
    assert clipped == []
    screenshot(page, "customer-lookup-phone")
    page.set_viewport_size(DESKTOP)
    assert problems(page) == []
