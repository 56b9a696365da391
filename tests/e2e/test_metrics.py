"""/metrics over real HTTP, read with prometheus_client's parser: requests by
operation and outcome with their latency, transitions by from, to and action,
the timer's lateness, the background work's passes, subscribers and sockets."""

from __future__ import annotations

import time
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


def samples(server: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_requests_transitions_and_timers_are_counted(server: LiveServer) -> None:
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

    server.clock.advance(minutes=1, seconds=2)  # the timer loop STARTs it, 2 s late
    deadline = time.monotonic() + 10
    while server.data(STATUS, {"id": journey_id})["journey"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    found = samples(server)
    assert value(found, "journeys_requests_total", operation="Create", outcome="OK") == 1
    assert value(found, "journeys_requests_total", operation="Activate", outcome="OK") == 1
    assert value(found, "journeys_requests_total", operation="Activate", outcome="FORBIDDEN") == 1
    assert value(found, "journeys_request_seconds_count", operation="Activate") == 2
    assert (
        value(
            found,
            "journeys_transitions_total",
            from_status="DESIGNING",
            to_status="SCHEDULED",
            action="ACTIVATE",
        )
        == 1
    )
    assert (
        value(
            found,
            "journeys_transitions_total",
            from_status="SCHEDULED",
            to_status="ACTIVE",
            action="START",
        )
        == 1
    )
    assert value(found, "journeys_timer_lateness_seconds_count", action="START") == 1
    assert value(found, "journeys_timer_lateness_seconds_sum", action="START") == 2.0
    assert value(found, "journeys_job_seconds_count", job="timer") >= 1
    assert value(found, "journeys_job_seconds_count", job="processing") >= 1
    assert value(found, "journeys_job_rows_total", job="timer") >= 1
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
