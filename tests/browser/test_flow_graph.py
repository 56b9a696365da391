"""The journey panel draws a journey's flow as a graph (web/static/flow_graph.js),
at desktop and phone width, with a text alternative; the layout alone is
test_flow_layout.py's."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, DashboardServer, screenshot
from tests.browser.flows import AB_FLOW, BIRTHDAY_FLOW
from tests.browser.test_dashboard import create, log_in, problems, row


def open_flow(page: Page, server: DashboardServer, name: str, nodes: list[dict[str, Any]]) -> str:
    journey_id = create(server, name, steps=None, nodes=nodes)
    log_in(page, server)
    row(page, journey_id).get_by_role("button", name=name).click()
    expect(page.locator(f'[data-panel="{journey_id}"] [data-flow]')).to_be_visible()
    return journey_id


def page_overflows(page: Page) -> bool:
    overflow: bool = page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    return overflow


def fits(panel: Locator) -> bool:
    """The graph is whole in its box: nothing to scroll."""
    scroll = panel.locator(".flow-scroll")
    wide: bool = scroll.evaluate("(box) => box.scrollWidth <= box.clientWidth")
    return wide


def test_a_branching_flow_is_drawn_with_its_branches_and_in_words(
    page: Page, server: DashboardServer
) -> None:
    open_flow(page, server, "Split by country", AB_FLOW)
    panel = page.locator(".panel")
    graph = panel.get_by_role("img", name=re.compile(r"^The flow of “Split by country”: 6 nodes"))
    expect(graph).to_be_visible()
    expect(graph).to_have_accessible_name(re.compile(r"drawn top to bottom from its entry, 'ab'"))
    # Five layers do not fit the panel's width left to right; top to bottom they do.
    expect(panel.locator("[data-flow]")).to_have_attribute("data-direction", "TB")
    assert fits(panel)
    # The sentence of a flow not drawn is gone; no steps list for a branching flow.
    expect(panel).not_to_contain_text("not drawn here yet")
    expect(panel.locator("ol.steps")).to_have_count(0)

    for key, kind, detail in [
        ("ab", "SPLIT", "50% / 50%"),
        ("check", "CONDITION", 'country is "VN"'),
        ("vip", "SEND", "vip-offer (log)"),
        ("hold", "WAIT", "24 hours"),
        ("later", "WAIT", "2 days"),
        ("bye", "EXIT", "the walk ends"),
    ]:
        node = graph.locator(f'[data-node="{key}"]')
        expect(node).to_be_visible()
        expect(node.locator(".flow-type")).to_have_text(kind)
        expect(node.locator(".flow-key")).to_have_text(key)
        expect(node.locator(".flow-detail")).to_contain_text(detail)

    def edge(source: str, branch: str = "") -> Any:
        return graph.locator(f'[data-from="{source}"][data-branch="{branch}"]')

    expect(edge("ab", "a")).to_have_attribute("data-to", "check")
    expect(edge("ab", "a").locator(".flow-label")).to_have_text(re.compile(r"^a 50%"))
    expect(edge("ab", "b")).to_have_attribute("data-to", "later")
    expect(edge("ab", "b").locator(".flow-label")).to_have_text(re.compile(r"^b 50%"))
    expect(edge("check", "yes")).to_have_attribute("data-to", "vip")
    expect(edge("check", "yes").locator(".flow-label")).to_have_text(re.compile(r"^yes"))
    expect(edge("check", "no")).to_have_attribute("data-to", "")  # the walk ends
    expect(edge("check", "no").locator(".flow-label")).to_have_text(re.compile(r"^no"))
    expect(edge("vip")).to_have_attribute("data-to", "hold")
    # A null target ends in a terminal: the CONDITION's "no" and the WAIT's next.
    expect(graph.locator(".flow-end")).to_have_count(2)
    expect(graph.locator('[data-end="check#1"]')).to_have_text("end")
    expect(graph.locator('[data-end="hold#0"]')).to_have_text("end")

    words = panel.locator("[data-flow-words] li")
    expect(words).to_have_count(6)
    expect(words.nth(0)).to_have_text(re.compile(r"^Node 'ab', SPLIT a 50%, b 50%"))
    expect(words.nth(0)).to_contain_text("branch a 50%: goes to 'check'")
    expect(words.nth(1)).to_contain_text("Node 'check', CONDITION country is \"VN\"")
    expect(words.nth(1)).to_contain_text("branch no: the walk ends")
    expect(words.nth(2)).to_have_text(re.compile(r"^Node 'vip', SEND template vip-offer \(log\)"))
    expect(words.nth(2)).to_contain_text("goes to 'hold'")
    expect(words.nth(5)).to_contain_text("the walk ends here")
    assert problems(page) == []


def test_at_phone_width_the_flow_runs_top_to_bottom_within_the_screen(
    page: Page, server: DashboardServer
) -> None:
    page.set_viewport_size(PHONE)
    open_flow(page, server, "Split by country", AB_FLOW)
    panel = page.locator(".panel")
    flow = panel.locator("[data-flow]")
    expect(flow).to_have_attribute("data-direction", "TB")
    graph = panel.get_by_role("img", name=re.compile("drawn top to bottom"))
    expect(graph.locator("[data-node]")).to_have_count(6)
    assert not page_overflows(page)
    assert fits(panel)  # this one fits the phone
    # Whatever does not fit scrolls inside the graph's own box, which stays on the screen.
    box = panel.locator(".flow-scroll").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    panel.locator("[data-flow]").scroll_into_view_if_needed()
    screenshot(page, "flow-phone")
    assert problems(page) == []


def test_a_straight_line_is_drawn_above_its_steps(page: Page, server: DashboardServer) -> None:
    steps = [
        {"type": "SEND", "channel": "log", "template": "welcome"},
        {"type": "WAIT", "seconds": 3600},
        {"type": "SEND", "channel": "log", "template": "tips"},
    ]
    journey_id = create(server, "Welcome series", steps=steps)
    log_in(page, server)
    row(page, journey_id).get_by_role("button", name="Welcome series").click()
    panel = page.locator(".panel")
    graph = panel.get_by_role("img", name=re.compile(r"^The flow of “Welcome series”: 3 nodes"))
    expect(graph.locator("[data-node]")).to_have_count(3)
    expect(graph.locator('[data-from="1"]')).to_have_attribute("data-to", "2")
    expect(graph.locator('[data-from="2"]')).to_have_attribute("data-to", "3")
    expect(graph.locator(".flow-end")).to_have_count(1)
    expect(panel.locator("ol.steps li")).to_have_count(3)  # the list stays, below
    assert problems(page) == []


def test_a_designing_birthday_flow_is_drawn_for_the_readme(
    page: Page, server: DashboardServer
) -> None:
    """docs/flow.png is this test's artifact flow-desktop.png, copied by hand."""
    assert page.viewport_size == DESKTOP
    open_flow(page, server, "Birthday offer", BIRTHDAY_FLOW)
    panel = page.locator(".panel")
    flow = panel.locator("[data-flow]")
    expect(flow).to_have_attribute("data-direction", "LR")
    assert fits(panel)
    graph = panel.get_by_role("img", name=re.compile("Birthday offer"))
    wait = graph.locator('[data-from="wait-purchase"]')
    expect(wait.locator(".flow-label")).to_have_text([re.compile("^event"), re.compile("^timeout")])
    expect(wait.nth(0)).to_have_attribute("data-to", "thank-you")
    expect(wait.nth(1)).to_have_attribute("data-to", "reminder")
    expect(graph.locator('[data-node="wait-purchase"] .flow-detail')).to_have_text(
        "purchase, up to 5 days"
    )
    flow.scroll_into_view_if_needed()
    flow.screenshot(path=str(screenshot(page, "flow-desktop")))
    assert problems(page) == []
