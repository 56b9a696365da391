"""The channel table: every channel the step processor hands messages to, one entry
each, saying how its messages are handed over and what sends them. The step processor
(service/processing.py) keeps the batches and their transactions and asks the table
the rest: adding a channel is one entry in `channel_table`, and its sender.

A channel hands its messages over in one of two ways:

- `DeliveredInTransaction` (`log`): the statement that hands a message over records it
  DELIVERED, and the channel's writer sends the transaction's messages as its last step
  before the commit (service/log_channel.py says why that keeps the guarantees);
- `AttemptedAfterCommit` (`webhook`, `email`): the message is recorded HANDED_OVER with a lease,
  its sender sends it once the transaction has committed, and its outcome is recorded in
  another transaction; a failed attempt is retried after a doubling delay and counts in
  its journey's run of failures (domain/channels.py).

A message on a channel the table does not know is handed over as the second kind, and
its attempt fails for good: no retry, no run of failures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from domain.channels import EMAIL, LOG, WEBHOOK
from domain.templates import Rendered
from service.attempts import Attempt, Outcome
from service.email_channel import EmailChannel
from service.log_channel import LogLines
from service.webhook import WebhookSender
from service.webhook_channel import WebhookChannel


def channel_table(webhooks: WebhookSender, email: EmailChannel) -> ChannelTable:
    """Every channel a SEND step may name (domain.channels.CHANNELS), one entry each."""
    return ChannelTable(
        [
            DeliveredInTransaction(LOG, writer=LogLines),
            AttemptedAfterCommit(WEBHOOK, sender=WebhookChannel(webhooks)),
            AttemptedAfterCommit(EMAIL, sender=email),
        ]
    )


class Writer(Protocol):
    """A channel's messages of one transaction, sent as its last step before the commit."""

    def add(
        self,
        template: str,
        journey_id: str,
        deliveries: Sequence[Any],
        messages: Sequence[Rendered],
    ) -> None:
        """Deliveries with `id` and `customer_id`, all of one template and journey, and
        each one's message as rendered for its customer."""

    def write(self) -> None: ...


class Sender(Protocol):
    """Sends a channel's attempts in batches, once the transaction that handed them over
    has committed."""

    def destinations(
        self, connection: Connection, workspace_ids: Sequence[str]
    ) -> Mapping[str, Any]:
        """{workspace id: where its messages go (`url`, `secret`)}, read in the hand-over's
        transaction, for the workspaces that have somewhere."""

    def time_to_send(self, attempts: int) -> timedelta:
        """At most how long sending a batch of so many attempts takes."""

    def describe(self, destination: Any) -> str:
        """The channel and where it sends, as a journey's error reason names them
        (`webhook https://hooks.example.com/in`); `destination` may be None."""

    async def send_all(self, attempts: Sequence[Attempt]) -> list[Outcome]:
        """Every attempt's outcome, in the order the attempts ended."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class DeliveredInTransaction:
    """A channel whose hand-over and outcome are one transaction: its writer sends the
    transaction's messages last before the commit (at least once, never lost)."""

    name: str
    writer: Callable[[], Writer]  # a new one for each transaction


@dataclass(frozen=True)
class AttemptedAfterCommit:
    """A channel whose messages are sent once their hand-over has committed, retried
    after a failed attempt and counted in their journey's run of failures."""

    name: str
    sender: Sender


Channel = DeliveredInTransaction | AttemptedAfterCommit


class ChannelTable:
    def __init__(self, channels: Iterable[Channel]) -> None:
        self._in_transaction: dict[str, DeliveredInTransaction] = {}
        self._after_commit: dict[str, Sender] = {}
        for channel in channels:
            match channel:
                case DeliveredInTransaction():
                    self._in_transaction[channel.name] = channel
                case AttemptedAfterCommit():
                    self._after_commit[channel.name] = channel.sender

    @property
    def names(self) -> set[str]:
        return {*self._in_transaction, *self._after_commit}

    def delivers_in_transaction(self, channel: str) -> bool:
        """Whether the channel's messages are delivered in the transaction that hands them
        over; the others' are attempted after its commit."""
        return channel in self._in_transaction

    def counts_failure_runs(self, channel: str) -> bool:
        """Whether the channel's failed attempts are retried and count in their journey's
        run of failures: a known channel attempted after the commit."""
        return channel in self._after_commit

    def writers(self) -> TransactionWriters:
        """Writers for one transaction's messages on the channels delivered in it."""
        return TransactionWriters(
            {name: channel.writer() for name, channel in self._in_transaction.items()}
        )

    def destinations(
        self, connection: Connection, workspaces: Iterable[tuple[str, str]]
    ) -> Destinations:
        """Where the messages of (channel, workspace id) go: a statement for each channel
        that has some (none for a batch without attempts)."""
        by_channel: dict[str, set[str]] = defaultdict(set)
        for channel, workspace_id in workspaces:
            if channel in self._after_commit:
                by_channel[channel].add(workspace_id)
        return Destinations(
            {
                channel: self._after_commit[channel].destinations(connection, sorted(ids))
                for channel, ids in by_channel.items()
            }
        )

    def describe(self, channel: str, destination: Any) -> str:
        """The channel and its destination, as a journey's error reason names them."""
        sender = self._after_commit.get(channel)
        return sender.describe(destination) if sender is not None else channel

    def time_to_send(self, attempts: Mapping[str, int]) -> timedelta:
        """At most how long `send_all` takes for a batch of so many attempts by channel:
        the channels send one after another."""
        return sum(
            (
                sender.time_to_send(attempts.get(name, 0))
                for name, sender in self._after_commit.items()
            ),
            timedelta(),
        )

    async def send_all(self, attempts: Sequence[Attempt]) -> list[Outcome]:
        """Every attempt's outcome, in the order the attempts ended. The channels send one
        after another, so that the order holds across channels too (a journey's run of
        failures counts them in that order)."""
        outcomes: list[Outcome] = []
        by_channel: dict[str, list[Attempt]] = defaultdict(list)
        for attempt in attempts:
            if attempt.channel in self._after_commit:
                by_channel[attempt.channel].append(attempt)
            else:
                error = f"unknown channel {attempt.channel!r}"
                outcomes.append(Outcome(attempt, False, error, final=True))
        for name, sender in self._after_commit.items():
            outcomes += await sender.send_all(by_channel[name])
        return outcomes

    async def close(self) -> None:
        for sender in self._after_commit.values():
            await sender.close()


class TransactionWriters:
    """One transaction's messages on the channels delivered in it, each channel's to its
    writer, all sent as the transaction's last step before the commit."""

    def __init__(self, writers: Mapping[str, Writer]) -> None:
        self._writers = writers

    def add(
        self,
        channel: str,
        template: str,
        journey_id: str,
        deliveries: Sequence[Any],
        messages: Sequence[Rendered],
    ) -> None:
        self._writers[channel].add(template, journey_id, deliveries, messages)

    def write(self) -> None:
        for writer in self._writers.values():
            writer.write()


@dataclass(frozen=True)
class Destinations:
    """Where a batch's attempts go, by channel and workspace."""

    by_channel: Mapping[str, Mapping[str, Any]]

    def of(self, channel: str, workspace_id: str) -> Any:
        """The workspace's destination on the channel (`url`, `secret`), or None."""
        return self.by_channel.get(channel, {}).get(workspace_id)
