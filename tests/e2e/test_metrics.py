"""/metrics over real HTTP, read with prometheus_client's parser: requests by
operation and outcome with their latency, transitions by from, to and action,
the timer's lateness, the background work's passes, deliveries by channel and
outcome, subscribers and sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import T0
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

CREATE = "mutation Create($i: CreateJourneyInput!) { createJourney(input: $i) { id } }"
ACTIVATE = "mutation Activate($id: ID!) { activateJourney(id: $id) { status } }"
STATUS = "query Status($id: ID!) { journey(id: $id) { status } }"
TRACK = 'mutation { trackEvent(name: "signup", customerId: "ann") { entered { id } } }'
MESSAGES = "query Messages($id: ID!) { journey(id: $id) { stats { delivered queuedDeliveries } } }"


def samples(server: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_requests_transitions_timers_and_deliveries_are_counted(server: LiveServer) -> None:
    start = T0 + timedelta(minutes=1)
    journey = {
        "name": "Counted",
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "signup",
        "startAt": start.isoformat(),
        "steps": [{"type": "SEND", "channel": "log", "template": "t"}],
    }
    journey_id = server.data(CREATE, {"i": journey})["createJourney"]["id"]
    assert server.data(ACTIVATE, {"id": journey_id})["activateJourney"]["status"] == "SCHEDULED"
    refused = server.post(ACTIVATE, {"id": journey_id}, as_="viewer")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # The same with a recall window: its message is queued, then handed over.
    delayed = {**journey, "name": "Counted later", "sendDelaySeconds": 60}
    delayed_id = server.data(CREATE, {"i": delayed})["createJourney"]["id"]
    server.data(ACTIVATE, {"id": delayed_id})

    server.clock.advance(minutes=1, seconds=2)  # the timer loop STARTs them, 2 s late
    wait_for(lambda: server.data(STATUS, {"id": journey_id})["journey"]["status"] == "ACTIVE")
    wait_for(lambda: server.data(STATUS, {"id": delayed_id})["journey"]["status"] == "ACTIVE")
    assert len(server.data(TRACK)["trackEvent"]["entered"]) == 2

    def messages(journey_id: str) -> tuple[int, int]:
        stats = server.data(MESSAGES, {"id": journey_id})["journey"]["stats"]
        return stats["delivered"], stats["queuedDeliveries"]

    wait_for(lambda: messages(journey_id) == (1, 0))
    wait_for(lambda: messages(delayed_id) == (0, 1))
    server.clock.advance(seconds=60)
    wait_for(lambda: messages(delayed_id) == (1, 0))

    found = samples(server)
    assert value(found, "journeys_requests_total", operation="Create", outcome="OK") == 2
    assert value(found, "journeys_requests_total", operation="Activate", outcome="OK") == 2
    assert value(found, "journeys_requests_total", operation="Activate", outcome="FORBIDDEN") == 1
    assert value(found, "journeys_request_seconds_count", operation="Activate") == 3
    assert (
        value(
            found,
            "journeys_transitions_total",
            from_status="DESIGNING",
            to_status="SCHEDULED",
            action="ACTIVATE",
        )
        == 2
    )
    assert (
        value(
            found,
            "journeys_transitions_total",
            from_status="SCHEDULED",
            to_status="ACTIVE",
            action="START",
        )
        == 2
    )
    assert value(found, "journeys_timer_lateness_seconds_count", action="START") == 2
    assert value(found, "journeys_timer_lateness_seconds_sum", action="START") == 4.0
    assert value(found, "journeys_job_seconds_count", job="timer") >= 1
    assert value(found, "journeys_job_seconds_count", job="processing") >= 1
    assert value(found, "journeys_job_rows_total", job="timer") >= 1
    # One delivered in the step's transaction, one by the hand-over after its window.
    deliveries = {
        labels: count
        for (name, labels), count in found.items()
        if name == "journeys_deliveries_total"
    }
    assert deliveries == {frozenset({"channel": "log", "outcome": "DELIVERED"}.items()): 2}
    assert ("journeys_websockets", frozenset()) in found
    assert ("journeys_subscribers", frozenset()) in found


def test_operation_names_from_clients_are_bounded(server: LiveServer) -> None:
    server.data("query Fine { viewer { role } }")
    server.data("query %s { viewer { role } }" % ("x" * 65))
    found = samples(server)
    assert value(found, "journeys_requests_total", operation="Fine", outcome="OK") == 1
    assert value(found, "journeys_requests_total", operation="other", outcome="OK") == 1


def test_every_answer_carries_its_request_id(server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.tokens['viewer']}", "X-Request-Id": "req-1"}
    answer = httpx.post(
        f"{server.base_url}/graphql", json={"query": "{ viewer { role } }"}, headers=headers
    )
    assert answer.headers["x-request-id"] == "req-1"
    too_large = httpx.post(
        f"{server.base_url}/graphql", content=b"x" * (2 << 20), headers={"X-Request-Id": "req-2"}
    )
    assert too_large.status_code == 413 and too_large.headers["x-request-id"] == "req-2"
    made = httpx.get(f"{server.base_url}/healthz").headers["x-request-id"]
    assert len(made) == 32
