"""A flow's customers in distributed mode, through faults (real worker processes,
PostgreSQL, a private Redis): a worker killed (-9) while customers cross a SPLIT, one
killed while customers released from a WAIT_FOR_EVENT get their next message, and Redis
flushed mid-walk. Nobody is skipped, nobody gets a message twice, and the branch counts
equal the rows."""

from __future__ import annotations

import time

from tests.distributed.conftest import Cluster, wait_until
from tests.distributed.test_audience import ENROLL
from tests.distributed.test_faults import ACTIVATE, CREATE, Api

PAUSE = "mutation($id: ID!) { pauseJourney(id: $id) { status } }"
RESUME = "mutation($id: ID!) { resumeJourney(id: $id) { status } }"
TRACK = """mutation($events: [TrackEventInput!]!) {
  trackEvents(events: $events) { released { id } } }"""
SPLIT = [
    {"key": "ab", "type": "SPLIT", "branches": [
        {"key": "a", "percent": 50, "next": "sa"}, {"key": "b", "percent": 50, "next": "sb"}]},
    {"key": "sa", "type": "SEND", "channel": "log", "template": "a"},
    {"key": "sb", "type": "SEND", "channel": "log", "template": "b"},
]  # fmt: skip
WAITING = [
    {"key": "w", "type": "WAIT_FOR_EVENT", "event": "buy", "timeoutSeconds": 86400,
     "next": "thanks", "onTimeout": None},
    {"key": "thanks", "type": "SEND", "channel": "log", "template": "thanks"},
]  # fmt: skip


def paused_journey(api: Api, nodes: list[dict[str, object]], customers: int) -> str:
    """A live journey of these nodes, PAUSED (it admits and holds), with `customers` in."""
    journey_id: str = api.data(
        CREATE,
        input={"name": "Flow", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup", "nodes": nodes},
    )["createJourney"]["id"]
    api.data(ACTIVATE, id=journey_id)
    api.data(PAUSE, id=journey_id)
    for start in range(0, customers, 5000):
        ids = [f"c{n}" for n in range(start, min(customers, start + 5000))]
        assert api.data(ENROLL, id=journey_id, ids=ids)["enrollCustomers"]["admitted"] == len(ids)
    return journey_id


def counter(cluster: Cluster, journey_id: str, name: str) -> int:
    [(value,)] = cluster.sql(f"SELECT {name} FROM journey_stats WHERE journey_id = %s", journey_id)
    return int(value)


def assert_walked_once(cluster: Cluster, journey_id: str, customers: int) -> None:
    """Everyone completed with exactly one message; the counters say so, node by node."""
    [(twice,)] = cluster.sql(
        "SELECT count(*) FROM (SELECT enrollment_id FROM deliveries WHERE journey_id = %s "
        "GROUP BY enrollment_id HAVING count(*) > 1) AS repeated",
        journey_id,
    )
    assert twice == 0
    [(messages, receivers)] = cluster.sql(
        "SELECT count(*), count(DISTINCT customer_id) FROM deliveries WHERE journey_id = %s",
        journey_id,
    )
    assert (messages, receivers) == (customers, customers)
    [counters] = cluster.sql(
        "SELECT entered, inside, completed, delivered FROM journey_stats WHERE journey_id = %s",
        journey_id,
    )
    assert tuple(counters) == (customers, 0, customers, customers)
    by_node = dict(
        cluster.sql(
            "SELECT node_key, count(*) FROM deliveries WHERE journey_id = %s GROUP BY node_key",
            journey_id,
        )
    )
    counted = {
        (key, branch): (at, reached)
        for key, branch, at, reached in cluster.sql(
            "SELECT node_key, branch, at, reached FROM node_counters WHERE journey_id = %s",
            journey_id,
        )
    }
    for key, sent in by_node.items():
        assert counted[(key, "")] == (0, sent), key


def test_a_worker_killed_while_customers_cross_a_split_skips_and_repeats_nobody(
    cluster: Cluster,
):
    api = Api(cluster.start_api(), cluster.token)
    customers = 8_000
    journey_id = paused_journey(api, SPLIT, customers)
    worker = cluster.start_worker()
    api.data(RESUME, id=journey_id)
    wait_until(lambda: counter(cluster, journey_id, "completed") >= 1000, 60, "a first batch")
    cluster.kill(worker)
    assert counter(cluster, journey_id, "completed") < customers  # killed mid-walk
    cluster.start_worker()
    wait_until(lambda: counter(cluster, journey_id, "completed") == customers, 120, "everyone")
    assert_walked_once(cluster, journey_id, customers)
    branches = dict(
        cluster.sql(
            "SELECT branch, reached FROM node_counters WHERE journey_id = %s AND node_key = 'ab' "
            "AND branch <> ''",
            journey_id,
        )
    )
    sent = dict(
        cluster.sql(
            "SELECT node_key, count(*) FROM deliveries WHERE journey_id = %s GROUP BY node_key",
            journey_id,
        )
    )
    assert branches == {"a": sent["sa"], "b": sent["sb"]}
    assert abs(branches["a"] - customers / 2) < customers * 0.05  # a fair split


def test_a_worker_killed_while_released_customers_get_their_message(cluster: Cluster):
    api = Api(cluster.start_api(), cluster.token)
    customers = 5_000
    journey_id = paused_journey(api, WAITING, customers)
    worker = cluster.start_worker()
    api.data(RESUME, id=journey_id)
    waiting = (
        "SELECT at FROM node_counters WHERE journey_id = %s AND node_key = 'w' AND branch = ''"
    )
    wait_until(lambda: cluster.sql(waiting, journey_id) == [(customers,)], 60, "everyone waiting")
    released = 0
    for start in range(0, customers, 1000):
        events = [{"name": "buy", "customerId": f"c{n}"} for n in range(start, start + 1000)]
        results = api.data(TRACK, events=events)["trackEvents"]
        released += sum(1 for result in results if result["released"])
        if start == 2000:
            time.sleep(0.05)
            cluster.kill(worker)  # while it sends the first released customers' thanks
            assert counter(cluster, journey_id, "completed") < customers
            worker = cluster.start_worker(wait=False)
    assert released == customers
    wait_until(lambda: counter(cluster, journey_id, "completed") == customers, 120, "everyone")
    assert_walked_once(cluster, journey_id, customers)
    assert cluster.sql(
        "SELECT branch, reached FROM node_counters WHERE journey_id = %s AND node_key = 'w' "
        "AND branch <> '' ORDER BY branch",
        journey_id,
    ) == [("event", customers)]


def test_redis_flushed_mid_walk_loses_nobody(cluster: Cluster):
    api = Api(cluster.start_api(), cluster.token)
    customers = 5_000
    journey_id = paused_journey(api, SPLIT, customers)
    cluster.start_worker()
    api.data(RESUME, id=journey_id)
    wait_until(lambda: counter(cluster, journey_id, "completed") >= 500, 60, "a first batch")
    cluster.redis.command("FLUSHALL")
    assert counter(cluster, journey_id, "completed") < customers
    cluster.start_worker()
    wait_until(lambda: counter(cluster, journey_id, "completed") == customers, 120, "everyone")
    assert_walked_once(cluster, journey_id, customers)
