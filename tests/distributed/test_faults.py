"""Distributed mode under faults: every due transition happens, once.

Real PostgreSQL, a private redis-server, real `journeys serve` and
`journeys worker` processes. Dates are a couple of seconds ahead; the sweep
runs every second.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.distributed.conftest import SWEEP_SECONDS, Cluster, wait_until

CREATE = """mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"""
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
UPDATE = """mutation($id: ID!, $start: DateTime) {
  updateJourney(id: $id, input: {startAt: $start}) { startAt } }"""
ABORT = "mutation($id: ID!) { abortJourney(id: $id) { status } }"


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def data(self, query: str, **variables: Any) -> Any:
        body = self.client.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in body, body
        return body["data"]

    def scheduled(self, start: datetime) -> str:
        journey_id: str = self.data(
            CREATE,
            input={
                "name": "Storm",
                "kind": "EVENT_TRIGGERED",
                "triggerEvent": "signup",
                "startAt": start.isoformat(),
                "steps": [{"type": "SEND", "channel": "log", "template": "t"}],
            },
        )["createJourney"]["id"]
        assert self.data(ACTIVATE, id=journey_id)["activateJourney"]["status"] == "SCHEDULED"
        return journey_id


def now() -> datetime:
    return datetime.now(UTC)


def sleep_until(when: datetime) -> None:
    time.sleep(max(0.0, (when - now()).total_seconds()))


def all_active(cluster: Cluster, ids: list[str]) -> bool:
    rows = cluster.sql(
        "SELECT count(*) FROM journeys WHERE status = 'ACTIVE' AND id = ANY(%s)", ids
    )
    return bool(rows[0][0] == len(ids))


def test_a_killed_worker_loses_nothing(cluster: Cluster):
    doomed = cluster.start_worker()
    api = Api(cluster.start_api(), cluster.token)
    start = now() + timedelta(seconds=2)
    ids = [api.scheduled(start) for _ in range(20)]
    sleep_until(start)
    cluster.kill(doomed)  # kill -9 at the due second, jobs in hand or not
    cluster.start_worker()
    wait_until(lambda: all_active(cluster, ids), 10 + SWEEP_SECONDS, "all journeys to start")
    assert cluster.starts_per_journey() == dict.fromkeys(ids, 1)


def test_flushed_redis_loses_nothing(cluster: Cluster):
    cluster.start_worker()
    api = Api(cluster.start_api(), cluster.token)
    start = now() + timedelta(seconds=12)
    ids = [api.scheduled(start) for _ in range(100)]
    assert start - now() > timedelta(seconds=1), "creating the journeys took too long"
    sleep_until(start - timedelta(seconds=1))
    cluster.redis.command("FLUSHALL")  # every deferred job is gone
    wait_until(lambda: all_active(cluster, ids), 15, "all journeys to start")
    late = cluster.sql(
        "SELECT max(at) FROM status_events WHERE action = 'START' AND journey_id = ANY(%s)", ids
    )[0][0]
    assert late - start <= timedelta(seconds=SWEEP_SECONDS + 1.5)  # within the sweep interval
    assert cluster.starts_per_journey() == dict.fromkeys(ids, 1)


def test_moved_dates_never_start_at_an_old_date(cluster: Cluster):
    cluster.start_worker()
    api = Api(cluster.start_api(), cluster.token)
    first = now() + timedelta(seconds=2)
    moved, aborted = api.scheduled(first), api.scheduled(first)
    later, earlier = first + timedelta(seconds=4), first + timedelta(seconds=2)
    for journey_id in (moved, aborted):
        api.data(UPDATE, id=journey_id, start=later.isoformat())
        api.data(UPDATE, id=journey_id, start=earlier.isoformat())
    api.data(ABORT, id=aborted)

    sleep_until(first + timedelta(seconds=1))  # the first date's job has run by now
    assert cluster.starts_per_journey() == {}
    wait_until(lambda: all_active(cluster, [moved]), 6, "the moved journey to start")
    started = cluster.sql("SELECT at FROM status_events WHERE action = 'START'")[0][0]
    assert earlier <= started < later
    sleep_until(later + timedelta(seconds=SWEEP_SECONDS + 0.5))  # the later job, and a sweep
    assert cluster.starts_per_journey() == {moved: 1}
    status = cluster.sql("SELECT status FROM journeys WHERE id = %s", aborted)[0][0]
    assert status == "ABORTED"


def test_two_workers_racing_apply_each_transition_once(cluster: Cluster):
    cluster.start_worker()
    cluster.start_worker()
    api = Api(cluster.start_api(), cluster.token)
    start = now() + timedelta(seconds=3)
    ids = [api.scheduled(start) for _ in range(50)]
    wait_until(lambda: all_active(cluster, ids), 10, "all journeys to start")
    sleep_until(now() + timedelta(seconds=SWEEP_SECONDS + 0.5))  # let every sweep and job run
    assert cluster.starts_per_journey() == dict.fromkeys(ids, 1)
    sequences = [row[0] for row in cluster.sql("SELECT sequence FROM status_events ORDER BY 1")]
    assert sequences == list(range(1, len(sequences) + 1))


@pytest.mark.parametrize("when", ["prompt", "after a redis restart"])
def test_events_cross_processes(cluster: Cluster, when: str):
    import json

    from websockets.sync.client import connect

    listener_url, actor_url = cluster.start_api(), cluster.start_api()
    api = Api(actor_url, cluster.token)
    journey_id = api.scheduled(now() + timedelta(days=1))
    ws_url = listener_url.replace("http", "ws") + "/graphql"
    with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {cluster.token}"}}
            )
        )
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        query = "subscription { statusChanged { sequence status journeyId } }"
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        wait_until(  # the subscription is registered before the change
            lambda: "journeys_subscribers 1" in httpx.get(f"{listener_url}/metrics").text,
            10,
            "the subscription to register",
        )
        if when != "prompt":
            cluster.redis.stop()
            time.sleep(1)
            cluster.redis.start()  # the API processes were not restarted
        api.data("mutation($id: ID!) { freezeJourney(id: $id) { status } }", id=journey_id)
        message = json.loads(ws.recv(timeout=15))
        assert message["type"] == "next", message
        assert message["payload"]["data"]["statusChanged"] == {
            "sequence": 2,
            "status": "FROZEN",
            "journeyId": journey_id,
        }
    ready = httpx.get(f"{listener_url}/readyz", timeout=5).json()
    assert ready == {"status": "ok", "database": "ok", "redis": "ok"}
