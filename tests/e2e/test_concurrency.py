"""Fifty conflicting transitions at once over HTTP: exactly the valid ones win."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import httpx

from tests.e2e.conftest import LiveServer
from tests.e2e.test_walkthrough import act, create

MUTATIONS = ["pauseJourney", "resumeJourney", "freezeJourney", "closeJourney", "reactivateJourney"]
HISTORY = """
query($id: ID!) {
  journey(id: $id) { status revision history(first: 100) { sequence previousStatus status action } }
}"""


def fire(server: LiveServer, requests: list[tuple[str, dict]]) -> list[dict]:
    headers = {"Authorization": f"Bearer {server.tokens['editor']}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:

        def send(request: tuple[str, dict]) -> dict:
            query, variables = request
            response = client.post("/graphql", json={"query": query, "variables": variables})
            assert response.status_code == 200, response.text
            body: dict = response.json()
            return body

        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(send, requests))


def test_fifty_concurrent_pauses_one_wins(server: LiveServer):
    journey_id = create(server)
    act(server, "activateJourney", journey_id)
    query = "mutation($id: ID!) { pauseJourney(id: $id) { status revision } }"
    results = fire(server, [(query, {"id": journey_id})] * 50)

    won = [r for r in results if "errors" not in r]
    refused = [r["errors"][0]["extensions"]["code"] for r in results if "errors" in r]
    assert len(won) == 1 and won[0]["data"]["pauseJourney"] == {"status": "PAUSED", "revision": 3}
    assert refused == ["TRANSITION_NOT_ALLOWED"] * 49
    journey = server.data(HISTORY, {"id": journey_id})["journey"]
    assert [h["action"] for h in journey["history"]] == ["ACTIVATE", "PAUSE"]


def test_fifty_writers_with_the_same_revision_one_wins(server: LiveServer):
    journey_id = create(server)
    query = """mutation($id: ID!, $name: String!) {
        renameJourney(id: $id, name: $name, expectedRevision: 1) { name revision } }"""
    results = fire(server, [(query, {"id": journey_id, "name": f"Name {i}"}) for i in range(50)])
    won = [r["data"]["renameJourney"] for r in results if "errors" not in r]
    refused = {r["errors"][0]["extensions"]["code"] for r in results if "errors" in r}
    assert len(won) == 1 and won[0]["revision"] == 2
    assert refused == {"REVISION_CONFLICT"}


def test_fifty_mixed_transitions_keep_log_and_status_consistent(server: LiveServer):
    journey_id = create(server)
    act(server, "activateJourney", journey_id)
    chooser = random.Random(7)
    requests = []
    for _ in range(50):
        name = chooser.choice(MUTATIONS)
        requests.append(
            (f"mutation($id: ID!) {{ {name}(id: $id) {{ status }} }}", {"id": journey_id})
        )
    results = fire(server, requests)

    applied = [r for r in results if "errors" not in r]
    assert {r["errors"][0]["extensions"]["code"] for r in results if "errors" in r} <= {
        "TRANSITION_NOT_ALLOWED"
    }
    journey = server.data(HISTORY, {"id": journey_id})["journey"]
    history = journey["history"]
    assert len(history) == 1 + len(applied)  # ACTIVATE, then exactly the winners
    assert journey["revision"] == 2 + len(applied)
    for before, after in pairwise(history):
        assert after["previousStatus"] == before["status"]
        assert after["sequence"] == before["sequence"] + 1
    assert history[-1]["status"] == journey["status"]
