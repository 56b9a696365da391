"""The README's walk-through, over real HTTP and a real WebSocket."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.e2e.conftest import LiveServer, next_message

CREATE = """
mutation Create($input: CreateJourneyInput!) {
  createJourney(input: $input) { id status revision availableActions }
}"""
ACT = """
mutation Act($id: ID!) {{ {name}(id: $id) {{ id status revision availableActions }} }}
"""
SUBSCRIBE = """
subscription Watch($journeyId: ID, $after: Int) {
  statusChanged(journeyId: $journeyId, after: $after) {
    sequence journeyId previousStatus status action actor { kind name } journey { name status }
  }
}"""


def act(server: LiveServer, name: str, journey_id: str) -> dict:
    result: dict = server.data(ACT.format(name=name), {"id": journey_id})[name]
    return result


def create(server: LiveServer, **fields: object) -> str:
    input = {
        "name": "Welcome series",
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "signup",
        "steps": [{"type": "SEND", "channel": "log", "template": "welcome"}],
        **fields,
    }
    journey_id: str = server.data(CREATE, {"input": input})["createJourney"]["id"]
    return journey_id


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
def test_walkthrough_with_a_live_subscription(server: LiveServer, protocol: str):
    start = T0 + timedelta(minutes=1)
    journey_id = create(server, startAt=start.isoformat())
    assert act(server, "activateJourney", journey_id)["status"] == "SCHEDULED"

    start_type, data_type = (
        ("subscribe", "next") if protocol == "graphql-transport-ws" else ("start", "data")
    )
    with server.websocket(protocol=protocol) as ws:
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": start_type,
                    "payload": {"query": SUBSCRIBE, "variables": {"after": 0}},
                }
            )
        )
        replayed = next_message(ws)
        assert replayed["type"] == data_type
        assert replayed["payload"]["data"]["statusChanged"]["status"] == "SCHEDULED"

        server.clock.set(start)  # the embedded timer sees the start date pass
        started = next_message(ws)["payload"]["data"]["statusChanged"]
        assert started["action"] == "START" and started["status"] == "ACTIVE"
        assert started["actor"] == {"kind": "SYSTEM", "name": "system"}

        for mutation, status in [
            ("pauseJourney", "PAUSED"),
            ("resumeJourney", "ACTIVE"),
            ("closeJourney", "CLOSED"),
        ]:
            assert act(server, mutation, journey_id)["status"] == status
            event = next_message(ws)["payload"]["data"]["statusChanged"]
            assert event["status"] == status and event["actor"]["name"] == "editor"
            assert event["journey"]["status"] == status

    history = server.data(
        "query($id: ID!) { journey(id: $id) { history { sequence action } } }", {"id": journey_id}
    )["journey"]["history"]
    assert [h["action"] for h in history] == ["ACTIVATE", "START", "PAUSE", "RESUME", "CLOSE"]
    assert [h["sequence"] for h in history] == [1, 2, 3, 4, 5]


def test_subscription_hears_only_its_workspace_and_journey(server: LiveServer):
    mine = create(server)
    other = create(server)
    with server.websocket() as ws:
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"journeyId": mine, "after": 0}},
                }
            )
        )
        act(server, "activateJourney", other)
        act(server, "activateJourney", mine)
        foreign = server.data(
            CREATE, {"input": {"name": "Theirs", "kind": "EVENT_TRIGGERED"}}, as_="outsider"
        )
        assert foreign["createJourney"]["status"] == "DESIGNING"
        event = next_message(ws)["payload"]["data"]["statusChanged"]
        assert event["journeyId"] == mine and event["sequence"] == 2


def test_subscription_to_a_foreign_journey_is_not_found(server: LiveServer):
    theirs = server.data(
        CREATE, {"input": {"name": "Theirs", "kind": "EVENT_TRIGGERED"}}, as_="outsider"
    )["createJourney"]["id"]
    with server.websocket() as ws:
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"journeyId": theirs}},
                }
            )
        )
        message = next_message(ws)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"


def test_a_websocket_without_a_valid_token_is_closed(server: LiveServer):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = server.base_url.replace("http", "ws") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_timers_survive_a_restart(server: LiveServer):
    start = T0 + timedelta(minutes=5)
    journey_id = create(server, startAt=start.isoformat())
    act(server, "activateJourney", journey_id)
    server.stop()
    server.clock.set(start + timedelta(minutes=1))  # the start date passes while it is down
    server.start()
    query = "query($id: ID!) { journey(id: $id) { status history { action actor { kind } } } }"
    for _ in range(500):
        journey = server.data(query, {"id": journey_id})["journey"]
        if journey["status"] == "ACTIVE":
            break
        import time

        time.sleep(0.01)
    assert journey["status"] == "ACTIVE"
    assert [h["action"] for h in journey["history"]] == ["ACTIVATE", "START"]


def test_graphiql_is_served_to_browsers(server: LiveServer):
    import httpx

    page = httpx.get(f"{server.base_url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.base_url}/readyz").json()["database"] == "ok"
    assert 'journeys_job_seconds_count{job="timer"}' in httpx.get(f"{server.base_url}/metrics").text


def test_status_counts_subscription_settles_on_the_truth(server: LiveServer):
    ids = [create(server) for _ in range(3)]
    with server.websocket() as ws:
        query = "subscription { statusCountsChanged { status count } }"
        ws.send(json.dumps({"id": "c", "type": "subscribe", "payload": {"query": query}}))
        first = next_message(ws)["payload"]["data"]["statusCountsChanged"]
        assert {c["status"]: c["count"] for c in first}["DESIGNING"] == 3
        for journey_id in ids:
            act(server, "activateJourney", journey_id)
        act(server, "pauseJourney", ids[0])
        counts: dict[str, int] = {}
        while counts.get("PAUSED") != 1 or counts.get("ACTIVE") != 2:
            message = next_message(ws)["payload"]["data"]["statusCountsChanged"]
            counts = {c["status"]: c["count"] for c in message}
        assert counts["DESIGNING"] == 0 and sum(counts.values()) == 3
