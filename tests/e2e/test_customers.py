"""Over real HTTP: profiles upserted, read back with `customer(id)`, and erased."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

UPSERT = """
mutation($customers: [CustomerInput!]!) {
  upsertCustomers(customers: $customers) {
    created updated rejected { customerId reason message }
  }
}
"""
CUSTOMER = """
query($id: String!) {
  customer(id: $id) {
    id attributes createdAt updatedAt
    journeys { state stepIndex enteredAt journey { id name } }
    events(first: 5) { name properties at }
  }
}
"""
CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
ENROLL = """
mutation($id: ID!, $ids: [String!]!) {
  enrollCustomers(journeyId: $id, customerIds: $ids) { admitted }
}
"""
STATS = "query($id: ID!) { journey(id: $id) { stats { entered inFlight exited } } }"
DELETE = """
mutation($id: String!) {
  deleteCustomer(id: $id) { customerId existed journeysExited messagesCancelled }
}
"""


def test_upsert_read_back_and_erase(server: LiveServer) -> None:
    customers = [
        {"id": "ann", "attributes": {"email": "ann@example.com", "age": 31, "vip": True}},
        {"id": "bob", "attributes": {"email": "bob@example.com"}},
        {"id": "cy", "attributes": {"address": {"city": "Lyon"}}},
    ]
    upserted = server.data(UPSERT, {"customers": customers})["upsertCustomers"]
    assert (upserted["created"], upserted["updated"]) == (2, 0)
    [rejected] = upserted["rejected"]
    assert (rejected["customerId"], rejected["reason"]) == ("cy", "INVALID_ATTRIBUTES")
    assert "address" in rejected["message"]

    change = [{"id": "ann", "attributes": {"vip": None, "plan": "pro"}}]
    assert server.data(UPSERT, {"customers": change})["upsertCustomers"]["updated"] == 1

    ann = server.data(CUSTOMER, {"id": "ann"}, as_="viewer")["customer"]
    assert ann["id"] == "ann"
    assert ann["attributes"] == {"email": "ann@example.com", "age": 31, "plan": "pro"}
    assert ann["createdAt"] == "2030-01-01T09:00:00Z"
    assert (ann["journeys"], ann["events"]) == ([], [])
    assert server.data(CUSTOMER, {"id": "ann"}, as_="outsider")["customer"] is None

    refused = server.error(DELETE, {"id": "ann"}, as_="editor")
    assert refused["extensions"]["code"] == "FORBIDDEN"
    erased = server.data(DELETE, {"id": "ann"}, as_="admin")["deleteCustomer"]
    assert erased == {
        "customerId": "ann",
        "existed": True,
        "journeysExited": 0,
        "messagesCancelled": 0,
    }
    assert server.data(CUSTOMER, {"id": "ann"})["customer"] is None
    assert server.data(CUSTOMER, {"id": "bob"})["customer"]["attributes"] == {
        "email": "bob@example.com"
    }


def test_a_customer_shows_the_journeys_it_is_in(server: LiveServer) -> None:
    steps = [{"type": "WAIT", "seconds": 3600}]
    input = {"name": "Welcome", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup"}
    journey = server.data(CREATE, {"input": {**input, "steps": steps}})["createJourney"]["id"]
    server.data(ACTIVATE, {"id": journey})
    enrolled = server.data(ENROLL, {"id": journey, "ids": ["dee"]})["enrollCustomers"]
    assert enrolled["admitted"] == 1

    dee = server.data(CUSTOMER, {"id": "dee"}, as_="viewer")["customer"]
    assert dee["attributes"] == {}  # the enrollment made its profile
    [inside] = dee["journeys"]
    assert (inside["state"], inside["journey"]) == ("INSIDE", {"id": journey, "name": "Welcome"})
    erased = server.data(DELETE, {"id": "dee"}, as_="admin")["deleteCustomer"]
    assert (erased["existed"], erased["journeysExited"]) == (True, 1)
    stats = server.data(STATS, {"id": journey})["journey"]["stats"]
    assert stats == {"entered": 1, "inFlight": 0, "exited": 1}


def test_a_viewer_cannot_upsert_and_a_call_too_large_is_refused(server: LiveServer) -> None:
    one = [{"id": "ann", "attributes": {"plan": "pro"}}]
    assert server.error(UPSERT, {"customers": one}, as_="viewer")["extensions"]["code"] == (
        "FORBIDDEN"
    )
    many = [{"id": f"c{i}", "attributes": {}} for i in range(1001)]
    error = server.error(UPSERT, {"customers": many})
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert server.data(CUSTOMER, {"id": "c0"})["customer"] is None
