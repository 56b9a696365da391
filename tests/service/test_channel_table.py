"""The channel table on its own (service/channel_table.py): which channels are delivered in
the hand-over's transaction and which are attempted after its commit, where each batch's
attempts go and how long they may take, and an unknown channel's attempts failing for
good. A second channel attempted after the commit (as `email` will be) is one more entry:
the table sends, reads destinations and times each channel's share apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, cast
from uuid import uuid4

import pytest
from sqlalchemy import Connection

from domain.channels import CHANNELS, LOG, WEBHOOK
from service.attempts import Attempt, Outcome
from service.channel_table import (
    AttemptedAfterCommit,
    ChannelTable,
    DeliveredInTransaction,
    channel_table,
)
from service.clock import ManualClock
from service.email_channel import EmailChannel
from service.webhook import WebhookSender
from tests.conftest import T0

pytestmark = pytest.mark.anyio

NO_CONNECTION = cast(Connection, None)


def attempt(channel: str, workspace_id: str = "w1") -> Attempt:
    return Attempt(
        delivery_id=1,
        public_id=uuid4(),
        journey_id="j1",
        workspace_id=workspace_id,
        customer_id="ann",
        channel=channel,
        template="welcome",
        number=1,
    )


class FakeSender:
    """Sends every attempt successfully, and notes what it was asked."""

    def __init__(self, seconds_per_attempt: float = 1.0) -> None:
        self.seconds_per_attempt = seconds_per_attempt
        self.sent: list[Attempt] = []
        self.looked_up: list[Sequence[str]] = []
        self.closed = False

    def destinations(
        self, connection: Connection, workspace_ids: Sequence[str]
    ) -> Mapping[str, Any]:
        self.looked_up.append(workspace_ids)
        return {workspace_id: f"where {workspace_id}" for workspace_id in workspace_ids}

    def time_to_send(self, attempts: int) -> timedelta:
        return timedelta(seconds=attempts * self.seconds_per_attempt)

    def describe(self, destination: Any) -> str:
        return f"fake {destination}"

    async def send_all(self, attempts: Sequence[Attempt]) -> list[Outcome]:
        self.sent += attempts
        return [Outcome(attempt, True) for attempt in attempts]

    async def close(self) -> None:
        self.closed = True


class FakeWriter:
    def __init__(self) -> None:
        self.added: list[tuple[str, str, int]] = []
        self.written = False

    def add(
        self, template: str, journey_id: str, deliveries: Sequence[Any], messages: Sequence[Any]
    ) -> None:
        self.added += [(template, journey_id, len(deliveries))]

    def write(self) -> None:
        self.written = True


def the_table() -> ChannelTable:
    clock = ManualClock(T0)
    return channel_table(
        WebhookSender(clock, timeout_seconds=5.0, concurrency=20),
        EmailChannel(clock, timeout_seconds=10.0),
    )


def test_the_table_has_an_entry_for_every_channel_a_send_may_name():
    assert the_table().names == set(CHANNELS)


def test_log_is_delivered_in_the_transaction_and_webhook_attempted_after_the_commit():
    table = the_table()
    assert table.delivers_in_transaction(LOG)
    assert not table.counts_failure_runs(LOG)
    assert not table.delivers_in_transaction(WEBHOOK)
    assert table.counts_failure_runs(WEBHOOK)
    # An unknown channel is handed over for an attempt that fails, and runs no failures.
    assert not table.delivers_in_transaction("pigeon")
    assert not table.counts_failure_runs("pigeon")


def test_a_webhook_batch_may_take_a_round_of_timeouts_for_each_concurrency_and_one_more():
    table = the_table()
    assert table.time_to_send({}) == timedelta(seconds=5)
    assert table.time_to_send({WEBHOOK: 1, "pigeon": 500}) == timedelta(seconds=10)
    assert table.time_to_send({WEBHOOK: 20}) == timedelta(seconds=10)
    assert table.time_to_send({WEBHOOK: 21}) == timedelta(seconds=15)


async def test_an_unknown_channels_attempts_fail_for_good_first_and_the_others_are_sent():
    hooks, mail = FakeSender(), FakeSender()
    table = ChannelTable(
        [AttemptedAfterCommit(WEBHOOK, sender=hooks), AttemptedAfterCommit("email", sender=mail)]
    )
    attempts = [attempt("email"), attempt("pigeon"), attempt(WEBHOOK), attempt("email")]
    outcomes = await table.send_all(attempts)
    assert [(o.attempt.channel, o.succeeded, o.final) for o in outcomes] == [
        ("pigeon", False, True),
        (WEBHOOK, True, False),
        ("email", True, False),
        ("email", True, False),
    ]
    assert outcomes[0].error == "unknown channel 'pigeon'"
    assert hooks.sent == [attempts[2]]
    assert mail.sent == [attempts[0], attempts[3]]
    await table.close()
    assert hooks.closed and mail.closed


def test_each_channel_attempted_after_the_commit_adds_its_share_and_reads_its_destinations():
    hooks, mail = FakeSender(1.0), FakeSender(10.0)
    table = ChannelTable(
        [AttemptedAfterCommit(WEBHOOK, sender=hooks), AttemptedAfterCommit("email", sender=mail)]
    )
    assert table.time_to_send({WEBHOOK: 2, "email": 3}) == timedelta(seconds=32)
    found = table.destinations(
        NO_CONNECTION,
        [(WEBHOOK, "w2"), ("email", "w1"), (WEBHOOK, "w1"), (WEBHOOK, "w2"), ("pigeon", "w1")],
    )
    assert hooks.looked_up == [["w1", "w2"]]  # one look-up a channel, each workspace once
    assert mail.looked_up == [["w1"]]
    assert found.of(WEBHOOK, "w2") == "where w2"
    assert found.of("email", "w2") is None
    assert found.of("pigeon", "w1") is None
    assert table.destinations(NO_CONNECTION, []).of(WEBHOOK, "w1") is None
    assert hooks.looked_up == [["w1", "w2"]]  # no attempts, no look-up


def test_each_transaction_gets_its_own_writers_written_at_its_end():
    made: list[FakeWriter] = []

    def writer() -> FakeWriter:
        made.append(FakeWriter())
        return made[-1]

    table = ChannelTable([DeliveredInTransaction(LOG, writer=writer)])
    first = table.writers()
    first.add(LOG, "welcome", "j1", [object(), object()], [None, None])
    first.write()
    table.writers().write()
    assert [(w.added, w.written) for w in made] == [([("welcome", "j1", 2)], True), ([], True)]
