"""Customers flowing in distributed mode: an API process admits, worker
processes walk them and send their messages (real processes, PostgreSQL, a
private Redis)."""

from __future__ import annotations

import json
import time

import pytest

from tests.distributed.conftest import Cluster, wait_until
from tests.distributed.test_faults import ACTIVATE, CREATE, Api

TRACK = """mutation($customer: String!) {
  trackEvent(name: "signup", customerId: $customer) { entered { id } } }"""
ENROLL = """mutation($id: ID!, $ids: [String!]!) {
  enrollCustomers(journeyId: $id, customerIds: $ids) { admitted } }"""


def running_journey(api: Api, *steps: dict[str, object]) -> str:
    journey_id: str = api.data(
        CREATE,
        input={
            "name": "Welcome",
            "kind": "EVENT_TRIGGERED",
            "triggerEvent": "signup",
            "steps": list(steps) or [{"type": "SEND", "channel": "log", "template": "hi"}],
        },
    )["createJourney"]["id"]
    assert api.data(ACTIVATE, id=journey_id)["activateJourney"]["status"] == "ACTIVE"
    return journey_id


def delivered(cluster: Cluster, journey_id: str) -> int:
    [(count,)] = cluster.sql(
        "SELECT count(*) FROM deliveries WHERE journey_id = %s AND state = 'DELIVERED'",
        journey_id,
    )
    return int(count)


def assert_each_sent_once(
    cluster: Cluster, journey_id: str, *, customers: int, messages: int
) -> None:
    """Every customer walked the journey to its end and no message exists twice, and
    the counters say exactly that."""
    [(twice,)] = cluster.sql(
        "SELECT count(*) FROM (SELECT enrollment_id, node_key FROM deliveries "
        "GROUP BY enrollment_id, node_key HAVING count(*) > 1) AS repeated"
    )
    assert twice == 0
    [counters] = cluster.sql(
        "SELECT entered, inside, completed, queued, handed_over, delivered "
        "FROM journey_stats WHERE journey_id = %s",
        journey_id,
    )
    assert tuple(counters) == (customers, 0, customers, 0, 0, messages)


def test_a_worker_sends_the_first_message_at_once_when_told_through_redis(cluster: Cluster):
    # Polling far slower than the promptness asked for: only the announcement
    # on Redis can make the worker look in time.
    cluster.settings["JOURNEYS_PROCESSING_POLL_MS"] = "30000"
    api = Api(cluster.start_api(), cluster.token)
    cluster.start_worker()
    journey_id = running_journey(api)
    time.sleep(0.5)  # let the worker settle into its long poll

    asked = time.monotonic()
    assert api.data(TRACK, customer="ann")["trackEvent"]["entered"] == [{"id": journey_id}]
    wait_until(lambda: delivered(cluster, journey_id) == 1, 5, "the message")
    assert time.monotonic() - asked < 1.0


@pytest.mark.parametrize("kill_after", [0.3, 0.8])
def test_a_worker_killed_mid_batch_skips_nobody_and_sends_nothing_twice(
    cluster: Cluster, kill_after: float
):
    api = Api(cluster.start_api(), cluster.token)
    offer = {"type": "SEND", "channel": "log", "template": "offer"}
    thanks = {"type": "SEND", "channel": "log", "template": "thanks"}
    journey_id = running_journey(api, offer, thanks)
    customers = [f"c{i}" for i in range(6000)]
    for start in range(0, len(customers), 3000):
        batch = customers[start : start + 3000]
        assert api.data(ENROLL, id=journey_id, ids=batch)["enrollCustomers"]["admitted"] == 3000

    worker = cluster.start_worker()
    time.sleep(kill_after)
    cluster.kill(worker)
    cluster.start_worker()
    wait_until(lambda: delivered(cluster, journey_id) == 12_000, 60, "every message")
    assert_each_sent_once(cluster, journey_id, customers=6000, messages=12_000)


def test_a_flushed_redis_loses_no_work(cluster: Cluster):
    """Customers admitted, then Redis flushed before any worker runs: the
    workers find the work in the database (the processors poll)."""
    api = Api(cluster.start_api(), cluster.token)
    wait = {"type": "WAIT", "seconds": 1}
    offer = {"type": "SEND", "channel": "log", "template": "offer"}
    journey_id = running_journey(api, offer, wait, offer)
    ids = [f"c{i}" for i in range(500)]
    assert api.data(ENROLL, id=journey_id, ids=ids)["enrollCustomers"]["admitted"] == 500
    cluster.redis.command("FLUSHALL")
    cluster.start_worker()
    cluster.start_worker()
    wait_until(lambda: delivered(cluster, journey_id) == 1000, 30, "every message")
    [(completed, inside)] = cluster.sql(
        "SELECT completed, inside FROM journey_stats WHERE journey_id = %s", journey_id
    )
    assert (completed, inside) == (500, 0)


@pytest.mark.parametrize("entered_before_kill", [1, 20_000])
def test_a_worker_killed_mid_load_admits_nobody_twice_and_skips_nobody(
    cluster: Cluster, entered_before_kill: int
):
    api = Api(cluster.start_api(), cluster.token)
    journey_id: str = api.data(
        CREATE,
        input={
            "name": "Born in May",
            "kind": "SEGMENT_SCHEDULED",
            "steps": [{"type": "SEND", "channel": "log", "template": "birthday-offer"}],
        },
    )["createJourney"]["id"]
    customers = 40_000
    uploaded = api.client.post(
        f"/journeys/{journey_id}/audience",
        content="".join(f"may-{i}\n" for i in range(customers)).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert uploaded.json()["accepted"] == customers, uploaded.text
    assert api.data(ACTIVATE, id=journey_id)["activateJourney"]["status"] == "ACTIVE"

    kill_a_worker_mid_load_then_start_another(cluster, journey_id, entered_before_kill)
    assert_loaded_once(cluster, journey_id, customers)


@pytest.mark.parametrize("entered_before_kill", [1, 30_000])
def test_a_worker_killed_mid_load_by_condition_admits_nobody_twice_and_skips_nobody(
    cluster: Cluster, entered_before_kill: int
):
    api = Api(cluster.start_api(), cluster.token)
    customers = 60_000  # born in May, and as many born in June between them
    lines = (
        json.dumps({"id": f"c{i:06d}", "attributes": {"birthday": f"1990-{5 + i % 2:02d}-14"}})
        for i in range(2 * customers)
    )
    imported = api.client.post(
        "/customers",
        content="\n".join(lines).encode(),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert imported.json()["created"] == 2 * customers, imported.text
    journey_id: str = api.data(
        CREATE,
        input={
            "name": "Born in May",
            "kind": "SEGMENT_SCHEDULED",
            "steps": [{"type": "SEND", "channel": "log", "template": "birthday-offer"}],
            "audienceCondition": {"attribute": {"name": "birthday", "op": "MONTH_IS", "value": 5}},
        },
    )["createJourney"]["id"]
    assert api.data(ACTIVATE, id=journey_id)["activateJourney"]["status"] == "ACTIVE"

    kill_a_worker_mid_load_then_start_another(cluster, journey_id, entered_before_kill)
    assert_loaded_once(cluster, journey_id, customers)
    [(born_in_june,)] = cluster.sql(
        "SELECT count(*) FROM enrollments WHERE journey_id = %s "
        "AND right(customer_id, 1) IN ('1', '3', '5', '7', '9')",
        journey_id,
    )
    assert born_in_june == 0


def kill_a_worker_mid_load_then_start_another(
    cluster: Cluster, journey_id: str, entered_before_kill: int
) -> None:
    """A worker loads until at least `entered_before_kill` customers are in, and is
    killed before the load is done; another one finishes it."""
    worker = cluster.start_worker(wait=False)

    def entered() -> int:
        [(count,)] = cluster.sql(
            "SELECT count(*) FROM enrollments WHERE journey_id = %s", journey_id
        )
        return int(count)

    deadline = time.monotonic() + 30
    while entered() < entered_before_kill:
        assert time.monotonic() < deadline, "the worker loaded nothing"
        time.sleep(0.005)
    cluster.kill(worker)
    [(finished,)] = cluster.sql(
        "SELECT finished_at FROM audience_loads WHERE journey_id = %s", journey_id
    )
    assert finished is None, "the load was done before the kill"
    cluster.start_worker()


def assert_loaded_once(cluster: Cluster, journey_id: str, customers: int) -> None:
    """Every customer of the audience entered once and got its message; the journey
    closed once."""
    wait_until(lambda: delivered(cluster, journey_id) == customers, 90, "every message")
    [(rows, distinct)] = cluster.sql(
        "SELECT count(*), count(DISTINCT customer_id) FROM enrollments WHERE journey_id = %s",
        journey_id,
    )
    assert rows == distinct == customers
    [(entered, completed)] = cluster.sql(
        "SELECT entered, completed FROM journey_stats WHERE journey_id = %s", journey_id
    )
    assert (entered, completed) == (customers, customers)
    wait_until(
        lambda: (
            cluster.sql("SELECT status FROM journeys WHERE id = %s", journey_id) == [("CLOSED",)]
        ),
        10,
        "AUDIENCE_LOADED",
    )
    [(loaded,)] = cluster.sql(
        "SELECT count(*) FROM status_events WHERE journey_id = %s AND action = 'AUDIENCE_LOADED'",
        journey_id,
    )
    assert loaded == 1
