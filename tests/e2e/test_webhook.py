"""Over real HTTP: an admin sets the workspace's webhook endpoint, the server's own
step processor POSTs signed messages to a real receiver, a receiver that keeps
failing puts the journey in ERROR (actor system), and after RECOVER the held
messages go out. Time moves only when the test moves the server's clock."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from store.database import sync_url
from store.tables import DELIVERIES
from tests.conftest import T0
from tests.e2e.conftest import LiveServer, eventually, live_server
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-0123456789"
SET = """
mutation($url: String!, $secret: String!) {
  setWebhookEndpoint(url: $url, secret: $secret) { url configuredAt configuredBy }
}
"""
CLEAR = "mutation { clearWebhookEndpoint }"
ENDPOINT = "{ webhookEndpoint { url configuredAt configuredBy } }"
CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
RECOVER = "mutation($id: ID!) { recoverJourney(id: $id) { status errorReason } }"
TRACK = """
mutation($customer: String!) {
  trackEvent(name: "signup", customerId: $customer) { entered { id } }
}
"""
JOURNEY = """
query($id: ID!) {
  journey(id: $id) {
    status errorReason
    stats { queuedDeliveries handedOver delivered failedDeliveries }
    history { action reason actor { kind name } }
  }
}
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, channel_failure_limit=2, webhook_retry_seconds=30.0) as live:
        yield live


def stored_ids(server: LiveServer) -> dict[str, tuple[int, str]]:
    """{customer: (row id, public id as shown)} of every delivery."""
    engine = create_engine(sync_url(server.database_url))
    try:
        with engine.connect() as connection:
            query = select(DELIVERIES.c.customer_id, DELIVERIES.c.id, DELIVERIES.c.public_id)
            return {c: (id, public.hex) for c, id, public in connection.execute(query)}
    finally:
        engine.dispose()


def test_only_an_admin_sets_a_valid_endpoint_and_the_secret_is_never_shown(
    server: LiveServer,
) -> None:
    for as_ in ("viewer", "editor"):
        error = server.error(
            SET, {"url": "https://hooks.example.com/in", "secret": SECRET}, as_=as_
        )
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "needs an admin token" in error["message"]
    bad = server.error(SET, {"url": "ftp://hooks.example.com/in", "secret": SECRET}, as_="admin")
    assert bad["extensions"]["code"] == "VALIDATION_FAILED"
    assert bad["message"].startswith("the webhook URL must start with http:// or https://")
    empty = server.error(SET, {"url": "https://hooks.example.com/in", "secret": ""}, as_="admin")
    assert (empty["extensions"]["code"], empty["message"]) == (
        "VALIDATION_FAILED",
        "the webhook secret must not be empty",
    )
    assert server.data(ENDPOINT, as_="viewer") == {"webhookEndpoint": None}  # nothing changed

    body = server.post(SET, {"url": "https://hooks.example.com/in", "secret": SECRET}, as_="admin")
    assert body == {
        "data": {
            "setWebhookEndpoint": {
                "url": "https://hooks.example.com/in",
                "configuredAt": "2030-01-01T09:00:00Z",
                "configuredBy": "admin",
            }
        }
    }
    assert SECRET not in str(server.post(ENDPOINT, as_="viewer"))
    assert server.data(ENDPOINT, as_="viewer")["webhookEndpoint"]["url"].endswith("/in")
    assert server.error(CLEAR, as_="editor")["extensions"]["code"] == "FORBIDDEN"
    assert server.data(CLEAR, as_="admin") == {"clearWebhookEndpoint": True}
    assert server.data(ENDPOINT, as_="viewer") == {"webhookEndpoint": None}


def test_a_failing_receiver_puts_the_journey_in_error_and_recover_sends_the_rest(
    server: LiveServer, receiver: Receiver
) -> None:
    server.data(SET, {"url": receiver.url, "secret": SECRET}, as_="admin")
    steps = [{"type": "SEND", "channel": "webhook", "template": "welcome"}]
    input = {"name": "Hooks", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup"}
    journey = server.data(CREATE, {"input": {**input, "steps": steps, "sendDelaySeconds": 60}})
    journey_id = journey["createJourney"]["id"]
    server.data(ACTIVATE, {"id": journey_id})

    def read() -> Any:
        return server.data(JOURNEY, {"id": journey_id})["journey"]

    # A message that goes out and is taken: signed, as README says.
    server.data(TRACK, {"customer": "ann"})
    # Its minute's recall window starts when the step is applied: then the clock moves.
    eventually(read, lambda j: j["stats"]["queuedDeliveries"] == 1)
    server.clock.advance(seconds=60)
    assert eventually(read, lambda j: j["stats"]["delivered"] == 1)["stats"]["delivered"] == 1
    [first] = receiver.requests
    assert first.verifies_with(SECRET)
    assert first.json["customerId"] == "ann" and first.json["journeyId"] == journey_id

    # The receiver breaks: bob's and cy's first attempts fail, two in a row, the limit.
    receiver.answer(500)
    server.data(TRACK, {"customer": "bob"})
    server.data(TRACK, {"customer": "cy"})
    queued = eventually(read, lambda j: j["stats"]["queuedDeliveries"] == 2)
    assert queued["stats"]["queuedDeliveries"] == 2  # inside their minute's recall window
    server.clock.advance(seconds=60)
    failed = eventually(read, lambda j: j["status"] == "ERROR")
    assert failed["status"] == "ERROR"
    reason = f"webhook {receiver.url.split('?')[0]} failed 2 times in a row: HTTP 500"
    assert failed["errorReason"] == reason
    assert failed["history"][-1] == {
        "action": "FAIL",
        "reason": reason,
        "actor": {"kind": "SYSTEM", "name": "system"},
    }
    # ERROR holds the retries too, however long: nothing goes out before RECOVER.
    server.clock.advance(seconds=300)
    receiver.answer(200)
    time.sleep(0.5)  # two polls of the processor: nothing may go out
    assert len(receiver.requests) == 3
    assert read()["stats"] == {
        "queuedDeliveries": 0,
        "handedOver": 2,
        "delivered": 1,
        "failedDeliveries": 0,
    }

    recovered = server.data(RECOVER, {"id": journey_id}, as_="admin")["recoverJourney"]
    assert recovered == {"status": "ACTIVE", "errorReason": None}
    done = eventually(read, lambda j: j["stats"]["delivered"] == 3)
    assert done["stats"] == {
        "queuedDeliveries": 0,
        "handedOver": 0,
        "delivered": 3,
        "failedDeliveries": 0,
    }
    later = sorted((r.json["customerId"], r.attempt) for r in receiver.requests[3:])
    assert later == [("bob", 2), ("cy", 2)]
    assert all(r.verifies_with(SECRET) for r in receiver.requests)
    # What a receiver deduplicates on (header and body alike): each message's own
    # random id, the same on its retry, and not its row id (one sequence for every
    # workspace, which would count what the others sent).
    shown: dict[str, set[str]] = {}
    for request in receiver.requests:
        shown.setdefault(request.json["customerId"], set()).add(request.delivery_id)
    assert sorted(shown) == ["ann", "bob", "cy"]
    assert all(len(ids) == 1 for ids in shown.values())
    assert len(set.union(*shown.values())) == 3
    stored = stored_ids(server)
    for customer, (delivery_id,) in shown.items():
        assert re.fullmatch("[0-9a-f]{32}", delivery_id)
        row_id, public_id = stored[customer]
        assert delivery_id == public_id and delivery_id != str(row_id)
    assert server.clock.now() == T0 + timedelta(seconds=420)
