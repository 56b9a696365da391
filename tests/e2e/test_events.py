"""Over real HTTP: an event tracked with properties and a time is kept, triggers
only the journeys whose triggerWhere it meets, and a bad event in a batch is
refused by its index with nothing written."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

CREATE = """
mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }
"""
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
TRACK = """
mutation($name: String!, $customer: String!, $properties: JSON, $at: DateTime) {
  trackEvent(name: $name, customerId: $customer, properties: $properties, at: $at) {
    entered { id } refused { journeyId reason } converted { id } released { id }
  }
}
"""
TRACK_MANY = """
mutation($events: [TrackEventInput!]!) {
  trackEvents(events: $events) { entered { id } converted { id } released { id } }
}
"""
CUSTOMER = """
query($id: String!) { customer(id: $id) { attributes events { name properties at } } }
"""


def journey(server: LiveServer, **input: object) -> str:
    input = {
        "name": "Thanks",
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "purchase",
        "steps": [{"type": "SEND", "channel": "log", "template": "thanks"}],
        **input,
    }
    found: str = server.data(CREATE, {"input": input})["createJourney"]["id"]
    assert server.data(ACTIVATE, {"id": found})["activateJourney"]["status"] == "ACTIVE"
    return found


def test_an_event_with_properties_is_kept_and_filters_its_journeys(server: LiveServer) -> None:
    big = journey(server, triggerWhere=[{"name": "amount", "op": "GREATER_THAN", "value": 100}])
    every = journey(server)

    properties = {"amount": 150, "sku": "A-1", "gift": False}
    tracked = server.data(
        TRACK,
        {
            "name": "purchase",
            "customer": "ann",
            "properties": properties,
            "at": "2030-01-01T10:00:00+02:00",  # 08:00Z, an hour before the clock's now
        },
    )["trackEvent"]
    assert tracked == {
        "entered": [{"id": big}, {"id": every}],
        "refused": [],
        "converted": [],
        "released": [],
    }
    small = server.data(
        TRACK, {"name": "purchase", "customer": "bob", "properties": {"amount": 20}}
    )["trackEvent"]
    assert small["entered"] == [{"id": every}] and small["refused"] == []  # big not triggered

    ann = server.data(CUSTOMER, {"id": "ann"})["customer"]
    assert ann == {
        "attributes": {},  # the profile the event made
        "events": [{"name": "purchase", "properties": properties, "at": "2030-01-01T08:00:00Z"}],
    }
    bob = server.data(CUSTOMER, {"id": "bob"})["customer"]
    assert bob["events"] == [
        {"name": "purchase", "properties": {"amount": 20}, "at": "2030-01-01T09:00:00Z"}
    ]


def test_a_bad_event_refuses_the_batch_by_its_index(server: LiveServer) -> None:
    journey(server)
    events = [
        {"name": "purchase", "customerId": "cy", "properties": {"amount": 5}},
        {"name": "purchase", "customerId": "dee", "properties": {"cart": {"sku": "A-1"}}},
        {"name": "purchase", "customerId": "eve", "at": "2030-01-01T10:00:00Z"},
    ]
    error = server.error(TRACK_MANY, {"events": events})
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert error["message"].startswith("events[1]: properties: cart: ")
    assert (
        "events[2]: at is 2030-01-01T10:00:00+00:00, more than 5 minutes ahead"
        in (error["message"])
    )
    assert server.data(CUSTOMER, {"id": "cy"})["customer"] is None  # nothing written

    tracked = server.data(TRACK_MANY, {"events": events[:1]})["trackEvents"]
    assert tracked == [
        {"entered": [{"id": tracked[0]["entered"][0]["id"]}], "converted": [], "released": []}
    ]
    error = server.error(
        TRACK, {"name": "purchase", "customer": "cy", "properties": ["not", "an", "object"]}
    )
    assert error["message"] == "properties must be a JSON object of named values"
