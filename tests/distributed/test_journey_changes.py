"""`journeyChanged` across processes: a journey created and renamed through one
API process reaches a dashboard on another through Redis, in its own workspace
only. Real PostgreSQL, a private redis-server, real `journeys serve` processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.distributed.conftest import Cluster, wait_until
from tests.distributed.test_faults import CREATE, Api

CHANGED = "subscription { journeyChanged { journeyId revision what journey { name } } }"
RENAME = 'mutation($id: ID!) { renameJourney(id: $id, name: "Renamed") { revision } }'
JOURNEY = {"name": "Plain", "kind": "EVENT_TRIGGERED"}


@contextmanager
def subscribed(base_url: str, token: str) -> Iterator[ClientConnection]:
    ws_url = base_url.replace("http", "ws") + "/graphql"
    with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        ws.send(json.dumps(init))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": CHANGED}}))
        yield ws


def subscribers(base_url: str) -> int:
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    line = next(line for line in text.splitlines() if line.startswith("journeys_subscribers "))
    return int(float(line.split()[1]))


def next_change(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=15))
    assert message["type"] == "next", message
    change: dict[str, Any] = message["payload"]["data"]["journeyChanged"]
    return change


def test_a_journey_created_and_renamed_elsewhere_reaches_its_workspace_alone(cluster: Cluster):
    made = cluster.journeys(
        "token", "create", "--workspace", "other", "--role", "editor", "--name", "otto"
    )
    assert made.returncode == 0, made.stderr
    outsider = made.stdout.strip().splitlines()[-1]
    listener_url, actor_url = cluster.start_api(), cluster.start_api()
    ours, theirs = Api(actor_url, cluster.token), Api(actor_url, outsider)

    with (
        subscribed(listener_url, cluster.token) as acme,
        subscribed(listener_url, outsider) as other,
    ):
        wait_until(lambda: subscribers(listener_url) == 2, 10, "both subscriptions to register")
        journey_id = ours.data(CREATE, input=JOURNEY)["createJourney"]["id"]
        assert next_change(acme) == {
            "journeyId": journey_id,
            "revision": 1,
            "what": "CREATED",
            "journey": {"name": "Plain"},
        }
        assert ours.data(RENAME, id=journey_id)["renameJourney"]["revision"] == 2
        assert next_change(acme) == {
            "journeyId": journey_id,
            "revision": 2,
            "what": "UPDATED",
            "journey": {"name": "Renamed"},
        }
        # Acme's signals went by first: the other workspace's first is its own.
        foreign_id = theirs.data(CREATE, input=JOURNEY)["createJourney"]["id"]
        assert next_change(other)["journeyId"] == foreign_id
