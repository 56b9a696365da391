"""The journey panel draws a journey's flow as a graph (web/static/flow_graph.js),
at desktop and phone width, with a text alternative; the layout alone is
test_flow_layout.py's."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, DashboardServer, screenshot
from tests.browser.flows import AB_FLOW, BIRTHDAY_FLOW
from tests.browser.test_dashboard import (
    ENROLL,
    LIVE,
    act,
    create,
    eventually,
    log_in,
    problems,
    row,
)

NODES = """query($id: ID!) { journey(id: $id) {
  nodes { key at reached branches { key customers } } } }"""
UPSERT = """mutation($customers: [CustomerInput!]!) {
  upsertCustomers(customers: $customers) { rejected { customerId message } } }"""
TRACK = """mutation($id: String!) {
  trackEvent(name: "purchase", customerId: $id) { released { id } } }"""


def counts(server: DashboardServer, journey_id: str) -> dict[str, Any]:
    nodes = server.data(NODES, {"id": journey_id})["journey"]["nodes"]
    return {
        node["key"]: {
            "at": node["at"],
            "reached": node["reached"],
            **{b["key"]: b["customers"] for b in node["branches"]},
        }
        for node in nodes
    }


def open_flow(
    page: Page,
    server: DashboardServer,
    name: str,
    nodes: list[dict[str, Any]],
    journey_id: str | None = None,
) -> str:
    journey_id = journey_id or create(server, name, steps=None, nodes=nodes)
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


def test_a_designing_flow_is_drawn_with_nobody_in_it(page: Page, server: DashboardServer) -> None:
    assert page.viewport_size == DESKTOP
    journey_id = open_flow(page, server, "Birthday offer", BIRTHDAY_FLOW)
    assert {n["at"] for n in counts(server, journey_id).values()} == {0}
    panel = page.locator(".panel")
    flow = panel.locator("[data-flow]")
    expect(flow).to_have_attribute("data-direction", "LR")
    assert fits(panel)
    graph = panel.get_by_role("img", name=re.compile("Birthday offer"))
    wait = graph.locator('[data-from="wait-purchase"]')
    expect(wait.locator(".flow-label")).to_have_text(["event · 0", "timeout · 0"])
    expect(wait.nth(0)).to_have_attribute("data-to", "thank-you")
    expect(wait.nth(1)).to_have_attribute("data-to", "reminder")
    expect(graph.locator('[data-node="wait-purchase"] .flow-detail')).to_have_text(
        "purchase, up to 5 days"
    )
    expect(graph.locator("[data-at]")).to_have_text(["0"] * 4)
    expect(panel.locator("[data-flow-words] li").nth(1)).to_have_text(
        "Node 'wait-purchase', WAIT_FOR_EVENT purchase, up to 5 days: 0 customers here, "
        "0 reached it; branch event: goes to 'thank-you' (0 customers); "
        "branch timeout: goes to 'reminder' (0 customers)."
    )
    assert problems(page) == []


def test_the_counts_follow_customers_as_they_move(page: Page, server: DashboardServer) -> None:
    journey_id = create(server, "Split by country", steps=None, nodes=AB_FLOW)
    assert act(server, "activateJourney", journey_id) == "ACTIVE"
    people = [
        {"id": f"c{n}", "attributes": {"country": "VN" if n % 2 == 0 else "FR"}} for n in range(40)
    ]
    assert server.data(UPSERT, {"customers": people})["upsertCustomers"]["rejected"] == []
    open_flow(page, server, "Split by country", AB_FLOW, journey_id)
    panel = page.locator(".panel")
    graph = panel.get_by_role("img", name=re.compile("Split by country"))

    def at(key: str) -> Locator:
        return graph.locator(f'[data-at="{key}"]')

    def label(edge: str) -> Locator:
        return graph.locator(f'[data-edge="{edge}"] .flow-label')

    expect(at("hold")).to_have_text("0")
    expect(label("ab#0")).to_have_text("a 50% · 0")

    # In they come, and on through the SPLIT and the CONDITION to the WAITs.
    server.data(ENROLL, {"id": journey_id, "ids": [p["id"] for p in people]})
    now = eventually(
        lambda: counts(server, journey_id),
        lambda c: c["hold"]["at"] + c["later"]["at"] + c["check"]["no"] == 40,
    )
    assert now["hold"]["at"] > 0 and now["later"]["at"] > 0, now
    expect(at("hold")).to_have_text(str(now["hold"]["at"]), timeout=LIVE)
    expect(at("later")).to_have_text(str(now["later"]["at"]))
    expect(at("ab")).to_have_text("0")
    expect(label("ab#0")).to_have_text(f"a 50% · {now['ab']['a']}")
    expect(label("ab#1")).to_have_text(f"b 50% · {now['ab']['b']}")
    expect(label("check#0")).to_have_text(f"yes · {now['check']['yes']}")
    expect(label("check#1")).to_have_text(f"no · {now['check']['no']}")
    expect(label("vip#0")).to_have_text(str(now["hold"]["reached"]))  # vip's one way out
    expect(label("hold#0")).to_have_text("0")  # nobody has left it yet
    words = panel.locator("[data-flow-words] li")
    expect(words.nth(3)).to_contain_text(f"Node 'hold', WAIT 24 hours: {now['hold']['at']} custom")

    # A day on, the WAIT of one day lets its customers go: the walk ends after it.
    server.clock.advance(days=1, seconds=1)
    expect(at("hold")).to_have_text("0", timeout=LIVE)
    expect(label("hold#0")).to_have_text(str(now["hold"]["reached"]))
    expect(at("later")).to_have_text(str(now["later"]["at"]))
    server.clock.advance(days=1)
    expect(at("later")).to_have_text("0", timeout=LIVE)
    expect(label("later#0")).to_have_text(str(now["later"]["at"]))
    assert problems(page) == []


def test_a_running_birthday_flow_for_the_readme(page: Page, server: DashboardServer) -> None:
    """docs/flow.png is this test's artifact flow-desktop.png, copied by hand."""
    journey_id = create(server, "Birthday offer", steps=None, nodes=BIRTHDAY_FLOW)
    assert act(server, "activateJourney", journey_id) == "ACTIVE"
    # 120 customers: 45 buy within the five days, the others are reminded;
    # then 30 more, 8 of whom have bought so far.
    server.data(ENROLL, {"id": journey_id, "ids": [f"c{n}" for n in range(120)]})
    waiting = lambda n: lambda c: c["wait-purchase"]["at"] == n  # noqa: E731
    assert waiting(120)(eventually(lambda: counts(server, journey_id), waiting(120)))
    server.clock.advance(hours=1)  # an event counts when it comes after the customer arrived
    for n in range(45):
        server.data(TRACK, {"id": f"c{n}"})
    assert waiting(75)(eventually(lambda: counts(server, journey_id), waiting(75)))
    server.clock.advance(days=5)
    assert waiting(0)(eventually(lambda: counts(server, journey_id), waiting(0)))
    server.data(ENROLL, {"id": journey_id, "ids": [f"d{n}" for n in range(30)]})
    assert waiting(30)(eventually(lambda: counts(server, journey_id), waiting(30)))
    server.clock.advance(hours=1)
    for n in range(8):
        server.data(TRACK, {"id": f"d{n}"})
    final = eventually(
        lambda: counts(server, journey_id), lambda c: c["thank-you"]["reached"] == 53
    )
    assert final["wait-purchase"] == {"at": 22, "reached": 150, "event": 53, "timeout": 75}

    open_flow(page, server, "Birthday offer", BIRTHDAY_FLOW, journey_id)
    panel = page.locator(".panel")
    flow = panel.locator("[data-flow]")
    expect(flow).to_have_attribute("data-direction", "LR")
    graph = panel.get_by_role("img", name=re.compile("Birthday offer"))
    expect(graph.locator('[data-at="wait-purchase"]')).to_have_text("22")
    wait = graph.locator('[data-from="wait-purchase"] .flow-label')
    expect(wait).to_have_text(["event · 53", "timeout · 75"])
    expect(graph.locator('[data-edge="offer#0"] .flow-label')).to_have_text("150")
    expect(graph.locator('[data-edge="reminder#0"] .flow-label')).to_have_text("75")
    flow.scroll_into_view_if_needed()
    flow.screenshot(path=str(screenshot(page, "flow-desktop")))
    assert problems(page) == []
