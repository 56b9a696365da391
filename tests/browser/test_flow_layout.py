"""web/static/flow_layout.js by itself: the module imported in the page's browser
(no Node needed) and its layouts checked as data."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import DashboardServer
from tests.browser.flows import AB_FLOW, BIRTHDAY_FLOW

LAYOUT = """async ([nodes, direction]) => {
  const { layoutFlow } = await import("/static/flow_layout.js");
  return layoutFlow(nodes, direction);
}"""


def layout(page: Page, server: DashboardServer, nodes: list[dict[str, Any]], direction: str) -> Any:
    if not page.url.startswith(server.base_url):
        page.goto(server.base_url + "/")
    return page.evaluate(LAYOUT, [nodes, direction])


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def check_boxes(laid: Any) -> None:
    boxes = laid["nodes"] + laid["terminals"]
    for i, a in enumerate(boxes):
        assert a["x"] >= 0 and a["x"] + a["w"] <= laid["width"], a
        assert a["y"] >= 0 and a["y"] + a["h"] <= laid["height"], a
        for b in boxes[i + 1 :]:
            assert not overlap(a, b), (a, b)


def wait(key: str, following: str | None) -> dict[str, Any]:
    return {"key": key, "type": "WAIT", "seconds": 60, "next": following}


def test_a_straight_line_is_one_row_and_one_column(page: Page, server: DashboardServer) -> None:
    line = [wait("a", "b"), wait("b", "c"), wait("c", None)]
    across = layout(page, server, line, "LR")
    assert [n["layer"] for n in across["nodes"]] == [0, 1, 2]
    assert len({n["y"] for n in across["nodes"]}) == 1
    assert [n["x"] for n in across["nodes"]] == sorted(n["x"] for n in across["nodes"])
    assert len(across["terminals"]) == 1 and across["terminals"][0]["edge"] == "c#0"
    down = layout(page, server, line, "TB")
    assert len({n["x"] for n in down["nodes"]}) == 1
    assert [n["y"] for n in down["nodes"]] == sorted(n["y"] for n in down["nodes"])
    assert down["width"] < across["width"] and down["height"] > across["height"]
    for laid in (across, down):
        check_boxes(laid)
        assert [(e["from"], e["to"], e["label"]) for e in laid["edges"]] == [
            ("a", "b", ""), ("b", "c", ""), ("c", None, ""),
        ]  # fmt: skip


def test_labels_each_way_out_and_layers_by_longest_path(
    page: Page, server: DashboardServer
) -> None:
    laid = layout(page, server, AB_FLOW, "LR")
    layers = {n["key"]: n["layer"] for n in laid["nodes"]}
    assert layers == {"ab": 0, "check": 1, "later": 1, "vip": 2, "bye": 2, "hold": 3}
    assert [(e["from"], e["branch"], e["label"], e["to"]) for e in laid["edges"]] == [
        ("ab", "a", "a 50%", "check"), ("ab", "b", "b 50%", "later"),
        ("check", "yes", "yes", "vip"), ("check", "no", "no", None),
        ("vip", None, "", "hold"), ("hold", None, "", None),
        ("later", None, "", "bye"),
    ]  # fmt: skip
    check_boxes(laid)
    waits = layout(page, server, BIRTHDAY_FLOW, "TB")
    assert [(e["branch"], e["label"], e["to"]) for e in waits["edges"][1:3]] == [
        ("event", "event", "thank-you"), ("timeout", "timeout", "reminder"),
    ]  # fmt: skip
    check_boxes(waits)


def test_a_long_edge_goes_around_the_boxes_between(page: Page, server: DashboardServer) -> None:
    # "skip" jumps from the SPLIT straight to the end of a line of three WAITs.
    flow = [
        {"key": "s", "type": "SPLIT", "branches": [
            {"key": "long", "percent": 50, "next": "w1"},
            {"key": "skip", "percent": 50, "next": "last"},
        ]},
        wait("w1", "w2"), wait("w2", "w3"), wait("w3", "last"),
        {"key": "last", "type": "EXIT"},
    ]  # fmt: skip
    for direction in ("LR", "TB"):
        laid = layout(page, server, flow, direction)
        check_boxes(laid)
        nodes = {n["key"]: n for n in laid["nodes"]}
        assert nodes["last"]["layer"] == 4
        skip = next(e for e in laid["edges"] if e["branch"] == "skip")
        # Through a point in each layer it crosses: beside the WAITs, not over them.
        bends = [float(v) for v in re.findall(r"L([\d.]+),([\d.]+)", skip["d"])[0]]
        across = 1 if direction == "LR" else 0
        side = "y" if direction == "LR" else "x"
        size = "h" if direction == "LR" else "w"
        w2 = nodes["w2"]
        assert not (w2[side] <= bends[across] <= w2[side] + w2[size])


def test_orders_a_layer_to_avoid_crossings(page: Page, server: DashboardServer) -> None:
    # Given crossed in the list (x's branch to "q" first, y's to "p"): drawn uncrossed.
    flow = [
        {"key": "s", "type": "SPLIT", "branches": [
            {"key": "one", "percent": 50, "next": "x"},
            {"key": "two", "percent": 50, "next": "y"},
        ]},
        wait("x", "q"), wait("y", "p"), wait("p", None), wait("q", None),
    ]  # fmt: skip
    laid = layout(page, server, flow, "LR")
    at = {n["key"]: n["y"] for n in laid["nodes"]}
    assert (at["x"] < at["y"]) == (at["q"] < at["p"])
    check_boxes(laid)


def test_of_a_hundred_nodes_keeps_every_box_apart(page: Page, server: DashboardServer) -> None:
    # A wide, deep, acyclic flow at the limit: SPLITs of three into later nodes.
    flow: list[dict[str, Any]] = []
    for i in range(100):
        targets = [t for t in (i + 1, i + 7, i + 23) if t < 100]
        key = f"n{i}"
        if len(targets) >= 2:
            shares = [100 // len(targets)] * len(targets)
            shares[0] += 100 - sum(shares)
            flow.append({"key": key, "type": "SPLIT", "branches": [
                {"key": f"b{t}", "percent": p, "next": f"n{t}"}
                for t, p in zip(targets, shares, strict=True)
            ]})  # fmt: skip
        else:
            flow.append(wait(key, f"n{targets[0]}" if targets else None))
    for direction in ("LR", "TB"):
        laid = layout(page, server, flow, direction)
        assert len(laid["nodes"]) == 100
        check_boxes(laid)
        assert all(e["d"].startswith("M") for e in laid["edges"])
