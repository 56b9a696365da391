"""A SEND's subject in the flow graph, and the journey panel's "Preview a message"
box (web/static/message_preview.js): renderMessage for one customer, its
refusals as the API's sentence, an HTML body shown as text, at 1280 and 390 px."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Dialog, Locator, Page, expect

from tests.browser.conftest import PHONE, DashboardServer, screenshot
from tests.browser.test_dashboard import problems
from tests.browser.test_flow_graph import open_flow, page_overflows

UPSERT = """mutation($customers: [CustomerInput!]!) {
  upsertCustomers(customers: $customers) { rejected { customerId message } } }"""
RENDER = """query($id: ID!, $key: String!, $customer: String!) {
  renderMessage(journeyId: $id, nodeKey: $key, customerId: $customer) { subject body } }"""

SUBJECT = "Happy birthday, {{ customer.first_name }}"
BODY = (
    "Hi {{ customer.first_name }},\n\nHere is 20% off for your birthday.\n\n"
    "The {{ journey.name }} team"
)
# An HTML body that would run a script, and an image's onerror, if it were ever
# put into the page as markup.
HTML_BODY = (
    "<p>Hi {{ customer.first_name }},</p>"
    "<script>window.previewRan = true; alert('ran')</script>"
    '<img src="nowhere.png" onerror="window.previewRan = true">'
)
FLOW: list[dict[str, Any]] = [
    {"key": "wish", "type": "SEND", "channel": "log", "template": "birthday-wish",
     "subject": SUBJECT, "body": BODY, "next": "later"},
    {"key": "later", "type": "WAIT", "seconds": 86400, "next": "html"},
    {"key": "html", "type": "SEND", "channel": "log", "template": "birthday-html",
     "subject": "A card for {{ customer.first_name }}", "body": HTML_BODY, "next": "plain"},
    {"key": "plain", "type": "SEND", "channel": "log", "template": "thanks"},
]  # fmt: skip


def add_ann(server: DashboardServer) -> None:
    people = [{"id": "ann", "attributes": {"first_name": "Ann"}}]
    assert server.data(UPSERT, {"customers": people})["upsertCustomers"]["rejected"] == []


def preview(page: Page, node: str, customer: str) -> Locator:
    box = page.locator(".panel [data-preview]")
    box.get_by_label("Message").select_option(node)
    box.get_by_label("Customer id").fill(customer)
    box.get_by_role("button", name="Preview").click()
    return box


def journey_id(page: Page) -> str:
    value = page.locator(".panel").get_attribute("data-panel")
    assert value is not None
    return value


def test_the_graph_shows_a_send_subject_and_a_customer_preview(
    page: Page, server: DashboardServer
) -> None:
    add_ann(server)
    open_flow(page, server, "Birthday wishes", FLOW)
    panel = page.locator(".panel")
    graph = panel.get_by_role("img", name=re.compile("Birthday wishes"))
    # The subject as written (its Liquid), cut to the box; the template where there is none.
    detail = graph.locator('[data-node="wish"] .flow-detail')
    expect(detail).to_have_text(re.compile(r"^Happy birthday, "))
    assert SUBJECT.startswith((detail.text_content() or "").rstrip("…"))
    expect(graph.locator('[data-node="plain"] .flow-detail')).to_have_text("thanks (log)")
    words = panel.locator("[data-flow-words] li")
    expect(words.nth(0)).to_have_text(
        re.compile(r"^Node 'wish', SEND template birthday-wish \(log\), subject “"
                   + re.escape(SUBJECT) + "”")
    )  # fmt: skip
    expect(words.nth(3)).to_have_text(re.compile(r"^Node 'plain', SEND template thanks \(log\):"))

    # The form lists the three SENDs by key, with their subjects.
    box = panel.locator("[data-preview]")
    expect(box.get_by_role("heading", name="Preview a message")).to_be_visible()
    options = box.get_by_label("Message").locator("option")
    expect(options).to_have_text([f"wish: {SUBJECT}", "html: A card for {{ customer.first_name }}",
                                  "plain: template thanks"])  # fmt: skip

    preview(page, "wish", "ann")
    expect(box.locator("[data-preview-subject]")).to_have_text("Happy birthday, Ann")
    body = box.locator("[data-preview-body]")
    expected = server.data(RENDER, {"id": journey_id(page), "key": "wish", "customer": "ann"})
    assert expected["renderMessage"]["body"].startswith("Hi Ann,\n\nHere is 20% off")
    expect(body).to_have_text(expected["renderMessage"]["body"])
    expect(body).to_contain_text("The Birthday wishes team")
    expect(box.get_by_role("alert")).to_have_count(0)

    # An unknown customer: the API's NOT_FOUND sentence, in an alert; the last message goes.
    refusal = server.error(RENDER, {"id": journey_id(page), "key": "wish", "customer": "nobody"})
    assert refusal["extensions"]["code"] == "NOT_FOUND"
    preview(page, "wish", "nobody")
    expect(box.get_by_role("alert")).to_have_text(refusal["message"])
    expect(box.get_by_role("alert")).to_contain_text("nobody")
    expect(box.locator("[data-preview-body]")).to_have_count(0)
    panel.locator("[data-preview]").scroll_into_view_if_needed()
    screenshot(page, "preview-desktop")
    assert problems(page) == []


def test_an_html_body_is_shown_as_its_source_and_never_run(
    page: Page, server: DashboardServer
) -> None:
    add_ann(server)
    dialogs: list[Dialog] = []

    def seen(dialog: Dialog) -> None:
        dialogs.append(dialog)
        dialog.dismiss()

    page.on("dialog", seen)
    open_flow(page, server, "Birthday wishes", FLOW)
    box = preview(page, "html", "ann")
    expect(box.locator("[data-preview-subject]")).to_have_text("A card for Ann")
    body = box.locator("[data-preview-body]")
    expect(body).to_contain_text("<script>window.previewRan = true; alert('ran')</script>")
    expect(body).to_contain_text("<p>Hi Ann,</p>")
    expect(box).to_contain_text("HTML, shown as its source")
    # The markup is text: no element of it is in the page, and nothing of it ran.
    expect(box.locator("script, img")).to_have_count(0)
    expect(box.locator("p", has_text="Hi Ann")).to_have_count(0)
    page.wait_for_timeout(300)
    assert page.evaluate("window.previewRan") is None
    assert dialogs == []
    assert problems(page) == []


def test_at_phone_width_the_preview_fits_the_screen(page: Page, server: DashboardServer) -> None:
    page.set_viewport_size(PHONE)
    add_ann(server)
    open_flow(page, server, "Birthday wishes", FLOW)
    box = preview(page, "wish", "ann")
    expect(box.locator("[data-preview-subject]")).to_have_text("Happy birthday, Ann")
    assert not page_overflows(page)
    panel = page.locator(".panel")
    assert panel.evaluate("(p) => p.scrollWidth <= p.clientWidth")
    for part in ("select", "input", "button", "[data-preview-body]"):
        edge = box.locator(part).first.bounding_box()
        assert edge is not None and edge["x"] >= 0 and edge["x"] + edge["width"] <= PHONE["width"]
    box.scroll_into_view_if_needed()
    screenshot(page, "preview-phone")
    assert problems(page) == []


def test_a_template_that_fails_for_the_customer_says_why(
    page: Page, server: DashboardServer
) -> None:
    add_ann(server)
    broken = [
        {"key": "odd", "type": "SEND", "channel": "log", "template": "odd",
         "subject": "Your share: {{ 10 | divided_by: 0 }}", "body": "Hi"},
    ]  # fmt: skip
    open_flow(page, server, "Odd maths", broken)
    refusal = server.error(RENDER, {"id": journey_id(page), "key": "odd", "customer": "ann"})
    assert refusal["extensions"]["code"] == "VALIDATION_FAILED"
    box = preview(page, "odd", "ann")
    expect(box.get_by_role("alert")).to_have_text(refusal["message"])
    expect(box.get_by_role("alert")).to_contain_text("cannot be rendered for 'ann'")
    expect(box.locator("[data-preview-result]")).to_have_count(0)
    assert problems(page) == []
