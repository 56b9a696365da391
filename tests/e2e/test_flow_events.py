"""Over real HTTP, with the embedded processor running: trackEvent answers the journeys
an event released its customer in and those whose goal it was, and Journey.nodes
counts customers node by node and branch by branch as they move."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, eventually

pytestmark = pytest.mark.e2e

CREATE = """
mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }
"""
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
TRACK = """
mutation($name: String!, $customer: String!, $properties: JSON) {
  trackEvent(name: $name, customerId: $customer, properties: $properties) {
    entered { id } refused { reason } converted { id } released { id }
  }
}
"""
NODES = """
query($id: ID!) {
  journey(id: $id) {
    nodes { key at reached branches { key customers } }
    stats { entered converted completed inFlight }
    latestVersion { goalEvent reentry nodes { key at } }
  }
}
"""
FLOW = [
    {"key": "offer", "type": "SEND", "channel": "log", "template": "offer", "next": "wait"},
    {"key": "wait", "type": "WAIT_FOR_EVENT", "event": "purchase", "timeoutSeconds": 432000,
     "where": [{"name": "amount", "op": "AT_LEAST", "value": 10}],
     "next": "thanks", "onTimeout": "remind"},
    {"key": "thanks", "type": "SEND", "channel": "log", "template": "thank-you"},
    {"key": "remind", "type": "SEND", "channel": "log", "template": "reminder"},
]  # fmt: skip


def test_events_release_and_convert_and_nodes_count_them(server: LiveServer) -> None:
    journey_id = server.data(
        CREATE,
        {
            "input": {
                "name": "Birthday",
                "kind": "EVENT_TRIGGERED",
                "triggerEvent": "signup",
                "nodes": FLOW,
                "goalEvent": "unsubscribe",
                "reentry": "NEVER",
            }
        },
    )["createJourney"]["id"]
    assert server.data(ACTIVATE, {"id": journey_id})["activateJourney"]["status"] == "ACTIVE"

    def track(name: str, customer: str, **properties: Any) -> dict[str, Any]:
        values = {"name": name, "customer": customer, "properties": properties or None}
        result: dict[str, Any] = server.data(TRACK, values)["trackEvent"]
        return result

    def journey() -> dict[str, Any]:
        found: dict[str, Any] = server.data(NODES, {"id": journey_id})["journey"]
        return found

    for customer in ("ann", "bob", "cy"):
        assert track("signup", customer)["entered"] == [{"id": journey_id}]
    waiting = eventually(journey, lambda j: j["nodes"][1]["at"] == 3)
    assert [(n["key"], n["at"], n["reached"]) for n in waiting["nodes"]] == [
        ("offer", 0, 3), ("wait", 3, 3), ("thanks", 0, 0), ("remind", 0, 0),
    ]  # fmt: skip
    assert waiting["latestVersion"]["goalEvent"] == "unsubscribe"
    assert waiting["latestVersion"]["nodes"][1]["at"] is None  # a version's: no counts

    server.clock.advance(seconds=60)  # an event counts once it comes after reaching the node
    assert track("purchase", "ann", amount=5)["released"] == []
    assert track("purchase", "ann", amount=20)["released"] == [{"id": journey_id}]
    assert track("unsubscribe", "bob")["converted"] == [{"id": journey_id}]
    assert track("signup", "bob")["refused"] == [{"reason": "ALREADY_ENTERED"}]

    moved = eventually(journey, lambda j: j["stats"]["completed"] == 1)
    nodes = {n["key"]: n for n in moved["nodes"]}
    assert (nodes["wait"]["at"], nodes["thanks"]["reached"]) == (1, 1)
    assert nodes["wait"]["branches"] == [
        {"key": "event", "customers": 1},
        {"key": "timeout", "customers": 0},
    ]
    assert moved["stats"] == {"entered": 3, "converted": 1, "completed": 1, "inFlight": 1}


PENDING = """
query($id: ID!) {
  journey(id: $id) { hasUnappliedChanges pendingChanges { nodesRemoved { key customers } } }
}
"""
UPDATE = """
mutation($id: ID!, $input: UpdateJourneyInput!) {
  updateJourney(id: $id, input: $input) { revision }
}
"""


def test_pending_changes_say_who_a_reactivate_takes_out(server: LiveServer) -> None:
    journey_id = server.data(
        CREATE,
        {"input": {"name": "Winback", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup",
                   "nodes": FLOW}},
    )["createJourney"]["id"]  # fmt: skip
    server.data(ACTIVATE, {"id": journey_id})
    assert server.data(PENDING, {"id": journey_id})["journey"]["pendingChanges"] is None
    for customer in ("ann", "bob"):
        server.data(TRACK, {"name": "signup", "customer": customer, "properties": None})
    eventually(
        lambda: server.data(NODES, {"id": journey_id})["journey"]["nodes"][1]["at"],
        lambda at: at == 2,
    )
    server.data("mutation($id: ID!) { pauseJourney(id: $id) { status } }", {"id": journey_id})
    # The new version drops the wait and the reminder: the offer, then the thank-you.
    edited = [{**FLOW[0], "next": "thanks"}, FLOW[2]]
    server.data(UPDATE, {"id": journey_id, "input": {"nodes": edited}})
    pending = server.data(PENDING, {"id": journey_id})["journey"]
    assert pending == {
        "hasUnappliedChanges": True,
        "pendingChanges": {
            "nodesRemoved": [{"key": "wait", "customers": 2}, {"key": "remind", "customers": 0}]
        },
    }
    server.data("mutation($id: ID!) { reactivateJourney(id: $id) { status } }", {"id": journey_id})
    stats = server.data(NODES, {"id": journey_id})["journey"]["stats"]
    assert (stats["entered"], stats["inFlight"], stats["completed"]) == (2, 0, 0)
