"""Over real HTTP: a journey's flow given as nodes is kept and answered node by node,
steps answer it where it is a straight line, every rule of a flow refuses at save
naming the node and writing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

CREATE = """
mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }
"""
UPDATE = """
mutation($id: ID!, $revision: Int!, $changes: UpdateJourneyInput!) {
  updateJourney(id: $id, expectedRevision: $revision, input: $changes) { revision }
}
"""
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
FLOW = """
query($id: ID!) {
  journey(id: $id) {
    revision
    steps { index type }
    nodes {
      key type next seconds channel template subject event timeoutSeconds onTimeout
      conditionText yes no branches { key percent next }
    }
    latestVersion { steps { type } nodes { key } }
  }
}
"""
COUNT = "query { journeys(first: 100) { totalCount } }"

BORN_IN_MAY = {"attribute": {"name": "birthday", "op": "MONTH_IS", "value": 5}}
BIRTHDAY = [
    {"key": "ab", "type": "SPLIT", "branches": [
        {"key": "a", "percent": 50, "next": "may"},
        {"key": "b", "percent": 50, "next": "offer"},
    ]},
    {"key": "may", "type": "CONDITION", "condition": BORN_IN_MAY, "yes": "offer", "no": None},
    {"key": "offer", "type": "SEND", "channel": "log", "template": "offer",
     "subject": "A gift for you", "next": "wait"},
    {"key": "wait", "type": "WAIT_FOR_EVENT", "event": "purchase", "timeoutSeconds": 432000,
     "next": "thanks", "onTimeout": "remind"},
    {"key": "remind", "type": "SEND", "channel": "log", "template": "reminder"},
    {"key": "thanks", "type": "WAIT", "seconds": 864000, "next": "bye"},
    {"key": "bye", "type": "EXIT"},
]  # fmt: skip


def create(server: LiveServer, **input: Any) -> str:
    given = {"name": "Birthday", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup", **input}
    journey_id: str = server.data(CREATE, {"input": given})["createJourney"]["id"]
    return journey_id


def test_a_flow_of_nodes_is_kept_and_answered_node_by_node(server: LiveServer) -> None:
    journey_id = create(server, nodes=BIRTHDAY)
    found = server.data(FLOW, {"id": journey_id})["journey"]
    assert found["steps"] is None  # it branches
    assert found["latestVersion"]["steps"] is None
    assert [n["key"] for n in found["latestVersion"]["nodes"]] == [n["key"] for n in BIRTHDAY]
    nodes = {node["key"]: node for node in found["nodes"]}
    assert nodes["ab"]["branches"] == [
        {"key": "a", "percent": 50, "next": "may"},
        {"key": "b", "percent": 50, "next": "offer"},
    ]
    assert nodes["may"]["conditionText"] and nodes["may"]["branches"] == [
        {"key": "yes", "percent": None, "next": "offer"},
        {"key": "no", "percent": None, "next": None},
    ]
    assert nodes["offer"]["subject"] == "A gift for you"
    assert nodes["wait"]["branches"] == [
        {"key": "event", "percent": None, "next": "thanks"},
        {"key": "timeout", "percent": None, "next": "remind"},
    ]
    assert (nodes["bye"]["type"], nodes["bye"]["branches"]) == ("EXIT", [])
    assert server.data(ACTIVATE, {"id": journey_id})["activateJourney"]["status"] == "ACTIVE"


def test_steps_are_a_straight_line_of_nodes_and_still_run(server: LiveServer) -> None:
    steps = [
        {"type": "SEND", "channel": "log", "template": "welcome"},
        {"type": "WAIT", "seconds": 3600},
        {"type": "SEND", "channel": "log", "template": "tips"},
    ]
    journey_id = create(server, steps=steps)
    found = server.data(FLOW, {"id": journey_id})["journey"]
    assert [(s["index"], s["type"]) for s in found["steps"]] == [
        (0, "SEND"), (1, "WAIT"), (2, "SEND"),
    ]  # fmt: skip
    assert [(n["key"], n["type"], n["next"]) for n in found["nodes"]] == [
        ("1", "SEND", "2"), ("2", "WAIT", "3"), ("3", "SEND", None),
    ]  # fmt: skip
    assert server.data(ACTIVATE, {"id": journey_id})["activateJourney"]["status"] == "ACTIVE"


def test_a_draft_changes_its_flow_from_steps_to_nodes(server: LiveServer) -> None:
    journey_id = create(server, steps=[{"type": "SEND", "channel": "log", "template": "hi"}])
    revision = server.data(FLOW, {"id": journey_id})["journey"]["revision"]
    nodes = [{"key": "hello", "type": "SEND", "channel": "log", "template": "hi"}]
    server.data(UPDATE, {"id": journey_id, "revision": revision, "changes": {"nodes": nodes}})
    found = server.data(FLOW, {"id": journey_id})["journey"]
    assert [n["key"] for n in found["nodes"]] == ["hello"]
    assert found["steps"] is None  # a key other than "1": not shown as steps


def _line(count: int) -> list[dict[str, Any]]:
    keys = [f"n{i}" for i in range(count)]
    return [
        {"key": key, "type": "WAIT", "seconds": 60, "next": following}
        for key, following in zip(keys, [*keys[1:], None], strict=True)
    ]


def _split(*percents: int) -> list[dict[str, Any]]:
    branches = [{"key": f"b{i}", "percent": p, "next": "end"} for i, p in enumerate(percents)]
    return [{"key": "ab", "type": "SPLIT", "branches": branches}, {"key": "end", "type": "EXIT"}]


SEND = {"type": "SEND", "channel": "log", "template": "t"}
BAD_FLOWS = [
    pytest.param(
        [{"key": "a", **SEND, "next": "b"}, {"key": "b", **SEND, "next": "a"}],
        'node "a"', "loop", id="a cycle",
    ),
    pytest.param([{"key": "a", **SEND, "next": "a"}], 'node "a"', "loop", id="a self-loop"),
    pytest.param([{"key": "a", **SEND, "next": "nowhere"}], 'node "a"', "nowhere",
                 id="a dangling target"),
    pytest.param([{"key": "a", **SEND}, {"key": "b", **SEND}], 'node "b"', "no path",
                 id="an unreachable node"),
    pytest.param([{"key": "a", **SEND, "next": "a2"}, {"key": "a", **SEND}], 'node "a"',
                 "key", id="a duplicate key"),
    pytest.param([{"key": "k" * 41, **SEND}], "node", "40", id="a key of 41 characters"),
    pytest.param([{"key": "my node", **SEND}], 'node "my node"', "key",
                 id="a key with a space"),
    pytest.param(_line(101), "", "100", id="101 nodes"),
    pytest.param(_split(50, 49), 'node "ab"', "100", id="split percents adding to 99"),
    pytest.param(_split(100), 'node "ab"', "2 to 10", id="a SPLIT with 1 branch"),
    pytest.param(_split(*([10] * 9), 5, 5), 'node "ab"', "2 to 10",
                 id="a SPLIT with 11 branches"),
    pytest.param([{"key": "w", "type": "WAIT_FOR_EVENT", "event": "purchase"}], 'node "w"',
                 "timeoutSeconds", id="a WAIT_FOR_EVENT without timeoutSeconds"),
    pytest.param([{"key": "c", "type": "CONDITION", "yes": None}], 'node "c"', "condition",
                 id="a CONDITION without condition"),
    pytest.param([{"key": "s", **SEND, "seconds": 5}], 'node "s"', "seconds",
                 id="seconds on a SEND"),
]  # fmt: skip


@pytest.mark.parametrize(("nodes", "named", "said"), BAD_FLOWS)
def test_a_bad_flow_is_refused_naming_the_node_and_writes_nothing(
    server: LiveServer, nodes: list[dict[str, Any]], named: str, said: str
) -> None:
    before = server.data(COUNT)["journeys"]["totalCount"]
    given = {"name": "Bad", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup", "nodes": nodes}
    error = server.error(CREATE, {"input": given})
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert named in error["message"] and said in error["message"], error["message"]
    assert server.data(COUNT)["journeys"]["totalCount"] == before


def test_steps_and_nodes_together_are_refused(server: LiveServer) -> None:
    given = {
        "name": "Both", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup",
        "steps": [{"type": "SEND", "channel": "log", "template": "t"}],
        "nodes": [{"key": "a", **SEND}],
    }  # fmt: skip
    error = server.error(CREATE, {"input": given})
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert "not both" in error["message"]


BAD_GOALS = [
    pytest.param({"goalWhere": [{"name": "plan", "op": "EQUALS", "value": "pro"}]},
                 "goalWhere", id="a goalWhere without a goalEvent"),
    pytest.param({"goalEvent": "a\nb"}, "goalEvent", id="a goalEvent of two lines"),
    pytest.param({"goalEvent": "x" * 201}, "goalEvent", id="a goalEvent of 201 characters"),
    pytest.param({"goalEvent": "buy", "goalWhere": [{"name": "n", "op": "MONTH_IS", "value": 13}]},
                 "goalWhere", id="a goalWhere of a month 13"),
]  # fmt: skip


@pytest.mark.parametrize(("goal", "said"), BAD_GOALS)
def test_a_bad_goal_is_refused_and_writes_nothing(
    server: LiveServer, goal: dict[str, Any], said: str
) -> None:
    before = server.data(COUNT)["journeys"]["totalCount"]
    given = {
        "name": "Bad goal", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup",
        "nodes": [{"key": "a", **SEND}], **goal,
    }  # fmt: skip
    error = server.error(CREATE, {"input": given})
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert said in error["message"], error["message"]
    assert server.data(COUNT)["journeys"]["totalCount"] == before
