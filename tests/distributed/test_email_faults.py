"""The email channel in distributed mode, through faults (real worker processes,
PostgreSQL, a private Redis, and a real SMTP server in a process of its own, so that
killing a worker leaves it running): a worker killed -9 while it sends a batch, and
Redis flushed while a batch goes.

SMTP is at least once: an email the server took before the worker could record its
outcome is sent again. What a receiver is promised, and what these tests check, is
that a repeat carries the Message-ID of the first (the delivery's public id), so that
it can be dropped: everyone gets their email, and the distinct Message-IDs are exactly
the customers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.distributed.conftest import ROOT, Cluster, free_port, wait_until
from tests.distributed.test_faults import Api
from tests.distributed.test_flow_faults import RESUME, paused_journey

CUSTOMERS = 3_000
# The sink's pause before each 250: a batch of a thousand takes seconds, time to kill it.
DELAY_SECONDS = 0.002
# Emails the sink takes before the fault: the first batch is under way, far from done.
RECEIVED_BEFORE_FAULT = 300
FROM = "news@shop.example"
SET_SENDER = """mutation($input: EmailSenderInput!) {
  setEmailSender(input: $input) { host port } }"""
HELLO: list[dict[str, object]] = [
    {"key": "hi", "type": "SEND", "channel": "email", "template": "hello",
     "subject": "Hi {{ customer.first_name }}", "body": "Hello {{ customer.first_name }}!"},
]  # fmt: skip
STATS = """query($id: ID!) { journey(id: $id) { stats {
  completed queuedDeliveries handedOver delivered failedDeliveries skippedDeliveries } } }"""


@dataclass(frozen=True)
class Email:
    message_id: str
    recipient: str
    subject: str


@dataclass
class Sink:
    """tests/smtp_sink_recording.py running in its own process, and what it took."""

    port: int
    path: Path

    def received(self) -> list[Email]:
        emails = []
        # Each line is written whole and flushed: only the last can be caught half written.
        text = self.path.read_text(encoding="utf-8")
        for line in text[: text.rfind("\n") + 1].splitlines():
            message_id, recipient, subject = line.split(" ", 2)
            emails.append(Email(message_id, recipient, subject))
        return emails


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    port = free_port()
    path = tmp_path / "received.txt"
    path.touch()
    arguments = ["--port", str(port), "--out", str(path), "--delay", str(DELAY_SECONDS)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.smtp_sink_recording", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield Sink(port, path)
    finally:
        process.kill()
        process.wait(10)


def emailing_journey(cluster: Cluster, sink: Sink) -> tuple[Api, str]:
    """The workspace's sender set to the sink, CUSTOMERS profiles with an address and a
    first name, and a PAUSED journey that emails them, everyone enrolled."""
    api = Api(cluster.start_api(), cluster.token)
    made = cluster.journeys(
        "token", "create", "--workspace", "acme", "--role", "admin", "--name", "ada"
    )
    assert made.returncode == 0, made.stderr
    admin = Api(str(api.client.base_url), made.stdout.strip().splitlines()[-1])
    sender = {"host": "127.0.0.1", "port": sink.port, "security": "NONE", "fromAddress": FROM}
    admin.data(SET_SENDER, input=sender)
    profiles = (
        json.dumps({"id": f"c{n}", "attributes": {"email": address(n), "first_name": f"N{n}"}})
        for n in range(CUSTOMERS)
    )
    imported = api.client.post(
        "/customers",
        content="\n".join(profiles).encode(),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert imported.json()["created"] == CUSTOMERS, imported.text
    return api, paused_journey(api, HELLO, CUSTOMERS)


def address(n: int) -> str:
    return f"c{n}@example.com"


def stats(api: Api, journey_id: str) -> dict[str, int]:
    found: dict[str, int] = api.data(STATS, id=journey_id)["journey"]["stats"]
    return found


def all_delivered(api: Api, journey_id: str) -> bool:
    return stats(api, journey_id)["delivered"] == CUSTOMERS


def message_ids(cluster: Cluster, journey_id: str, state: str | None = None) -> dict[str, str]:
    """{Message-ID: customer} of the journey's deliveries (in `state`), as the channel
    makes them: `<public id in hex@domain of the From address>`."""
    domain = FROM.rpartition("@")[2]
    rows = cluster.sql(
        "SELECT public_id, customer_id FROM deliveries WHERE journey_id = %s "
        "AND (%s::text IS NULL OR state = %s::text)",
        journey_id,
        state,
        state,
    )
    return {f"<{public_id.hex}@{domain}>": customer for public_id, customer in rows}


def assert_everyone_emailed(
    api: Api, cluster: Cluster, journey_id: str, received: list[Email]
) -> dict[str, int]:
    """Everyone got their own email, rendered for them, and every repeat is the first
    one's Message-ID again; the counters say every message was delivered. Returns
    {Message-ID: times received} of the repeated ones."""
    assert stats(api, journey_id) == {
        "completed": CUSTOMERS,
        "queuedDeliveries": 0,
        "handedOver": 0,
        "delivered": CUSTOMERS,
        "failedDeliveries": 0,
        "skippedDeliveries": 0,
    }
    ids_by_recipient: dict[str, set[str]] = defaultdict(set)
    times: dict[str, int] = defaultdict(int)
    for email in received:
        ids_by_recipient[email.recipient].add(email.message_id)
        times[email.message_id] += 1
    assert set(ids_by_recipient) == {address(n) for n in range(CUSTOMERS)}
    repeated_differently = {r: ids for r, ids in ids_by_recipient.items() if len(ids) > 1}
    assert repeated_differently == {}  # a repeat is always the first email's Message-ID
    assert len(times) == CUSTOMERS
    # Each Message-ID is a delivery of this journey, and went to that delivery's customer.
    customer_of = message_ids(cluster, journey_id)
    for email in received:
        customer = customer_of[email.message_id]
        assert email.recipient == f"{customer}@example.com"
        assert email.subject == f"Hi N{customer.removeprefix('c')}"
    return {message_id: n for message_id, n in times.items() if n > 1}


def test_a_worker_killed_mid_email_batch_leaves_nobody_unsent_and_repeats_only_by_message_id(
    cluster: Cluster, sink: Sink
):
    api, journey_id = emailing_journey(cluster, sink)
    worker = cluster.start_worker()
    api.data(RESUME, id=journey_id)
    wait_until(
        lambda: len(sink.received()) >= RECEIVED_BEFORE_FAULT, 30, "the first emails to arrive"
    )
    cluster.kill(worker)
    at_kill = len(sink.received())
    assert 0 < at_kill < CUSTOMERS  # killed mid-send

    # The killed worker's batch stays HANDED_OVER until its lease runs out: 30 s, ten SMTP
    # timeouts (10 s) and a second a message, far beyond this test. The test moves the
    # leases to now, as if that time had passed; nothing else would send them meanwhile.
    in_flight = message_ids(cluster, journey_id, "HANDED_OVER")
    assert in_flight, "the killed worker had no batch in hand"
    [(soonest,)] = cluster.sql(
        "SELECT min(not_before) - now() FROM deliveries WHERE journey_id = %s "
        "AND state = 'HANDED_OVER'",
        journey_id,
    )
    assert soonest > timedelta(seconds=30 + 10 * 10)
    moved = cluster.sql(
        "UPDATE deliveries SET not_before = now() WHERE journey_id = %s "
        "AND state = 'HANDED_OVER' RETURNING id",
        journey_id,
    )
    assert len(moved) == len(in_flight)

    cluster.start_worker()
    wait_until(lambda: all_delivered(api, journey_id), 40, "every email delivered")
    received = sink.received()
    repeated = assert_everyone_emailed(api, cluster, journey_id, received)
    # Only the killed batch's emails may come twice (those the sink took before the
    # kill, whose outcome the worker never recorded), and no email more than twice.
    assert set(repeated) <= set(in_flight)
    assert set(repeated.values()) <= {2}
    assert len(received) == CUSTOMERS + len(repeated)
    # The killed batch took a second attempt, the others one.
    attempts = dict(
        cluster.sql(
            "SELECT attempts, count(*) FROM deliveries WHERE journey_id = %s GROUP BY attempts",
            journey_id,
        )
    )
    assert attempts == {1: CUSTOMERS - len(in_flight), 2: len(in_flight)}


def test_redis_flushed_mid_email_batch_loses_nothing(cluster: Cluster, sink: Sink):
    api, journey_id = emailing_journey(cluster, sink)
    cluster.start_worker()
    api.data(RESUME, id=journey_id)
    wait_until(
        lambda: len(sink.received()) >= RECEIVED_BEFORE_FAULT, 30, "the first emails to arrive"
    )
    cluster.redis.command("FLUSHALL")
    at_flush = len(sink.received())
    assert 0 < at_flush < CUSTOMERS  # flushed mid-send
    wait_until(lambda: all_delivered(api, journey_id), 40, "every email delivered")
    received = sink.received()
    repeated = assert_everyone_emailed(api, cluster, journey_id, received)
    # No process died and no connection was lost: every outcome was recorded by the
    # worker that sent it, before its lease ran out, so at-least-once allows no repeat
    # here. Redis holds no delivery's state: nobody is emailed twice.
    assert repeated == {}
    assert len(received) == CUSTOMERS
