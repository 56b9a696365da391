"""Over real HTTP: an event admits a customer and its message arrives in the
`log` channel, by the server's own step processor, within a second."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest

from tests.e2e.conftest import LiveServer, next_message

pytestmark = pytest.mark.e2e

CREATE = """
mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }
"""
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
TRACK = """
mutation($name: String!, $customer: String!) {
  trackEvent(name: $name, customerId: $customer) {
    entered { id name } refused { journeyId reason }
  }
}
"""
STATS = """
query($id: ID!) {
  journey(id: $id) {
    stats { entered inFlight held delivered queuedDeliveries }
    steps { index type customers }
  }
}
"""


def test_a_tracked_event_sends_the_message(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    steps = [{"type": "SEND", "channel": "log", "template": "welcome"}]
    input = {"name": "Welcome", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup"}
    input["steps"] = steps
    journey = server.data(CREATE, {"input": input})["createJourney"]["id"]
    assert server.data(ACTIVATE, {"id": journey})["activateJourney"]["status"] == "ACTIVE"

    caplog.set_level(logging.INFO, logger="journeys.channel.log")
    tracked = server.data(TRACK, {"name": "signup", "customer": "ann"})["trackEvent"]
    sent_at = time.monotonic()
    assert tracked == {"entered": [{"id": journey, "name": "Welcome"}], "refused": []}

    while True:
        stats = server.data(STATS, {"id": journey})["journey"]["stats"]
        if stats["delivered"] == 1 or time.monotonic() - sent_at > 5:
            break
        time.sleep(0.02)
    assert stats == {"entered": 1, "inFlight": 0, "held": 0, "delivered": 1, "queuedDeliveries": 0}
    assert time.monotonic() - sent_at < 1.0  # the first step is applied promptly
    assert any("'welcome' to customer 'ann'" in r.getMessage() for r in caplog.records)

    # At most once at a time: ann has completed the journey, so she may enter again.
    again = server.data(TRACK, {"name": "signup", "customer": "ann"})["trackEvent"]
    assert again["entered"] == [{"id": journey, "name": "Welcome"}]


def test_a_viewer_cannot_track_and_bad_input_is_refused(server: LiveServer) -> None:
    assert (
        server.error(TRACK, {"name": "signup", "customer": "ann"}, as_="viewer")["extensions"][
            "code"
        ]
        == "FORBIDDEN"
    )
    enroll = (
        "mutation($id: ID!, $ids: [String!]!) "
        "{ enrollCustomers(journeyId: $id, customerIds: $ids) { admitted } }"
    )
    error = server.error(enroll, {"id": "00000000-0000-0000-0000-000000000000", "ids": ["a"]})
    assert error["extensions"]["code"] == "NOT_FOUND"


STATS_CHANGED = """subscription($id: ID!) {
  journeyStatsChanged(journeyId: $id) { entered inFlight held delivered queuedDeliveries }
}"""


def test_stats_arrive_live_and_settle_on_the_true_value(server: LiveServer) -> None:
    steps = [{"type": "SEND", "channel": "log", "template": "welcome"}]
    input = {"name": "Watched", "kind": "EVENT_TRIGGERED", "triggerEvent": "visit"}
    input["steps"] = steps
    journey = server.data(CREATE, {"input": input})["createJourney"]["id"]
    server.data(ACTIVATE, {"id": journey})
    with server.websocket() as ws:
        subscribe = {"query": STATS_CHANGED, "variables": {"id": journey}}
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        first = next_message(ws)["payload"]["data"]["journeyStatsChanged"]
        assert first == {
            "entered": 0,
            "inFlight": 0,
            "held": 0,
            "delivered": 0,
            "queuedDeliveries": 0,
        }
        for customer in ("ann", "bob", "cy"):
            server.data(TRACK, {"name": "visit", "customer": customer})
        seen = first
        while seen["delivered"] < 3:
            seen = next_message(ws)["payload"]["data"]["journeyStatsChanged"]
        assert seen == {
            "entered": 3,
            "inFlight": 0,
            "held": 0,
            "delivered": 3,
            "queuedDeliveries": 0,
        }


def test_stats_of_a_foreign_journey_are_not_found(server: LiveServer) -> None:
    with server.websocket(as_="outsider") as ws:
        subscribe = {"query": STATS_CHANGED, "variables": {"id": str(uuid.uuid4())}}
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        message = next_message(ws)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
