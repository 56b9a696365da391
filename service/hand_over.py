"""Handing a batch of due messages to their channels, in the step processor's transaction.

The messages are queued ones whose time has come (a SEND's at once, or past their
recall window) and handed-over ones due for another attempt. For the batch, a few
reads, a statement each: the SEND nodes and names of their journeys, each customer's
profile and admitting event (only when a template, a channel or a rule needs them),
the workspaces' sending rules, and under a frequency cap the customers' recent
messages (their rows locked first on PostgreSQL). Then domain.sending decides each
message, in the batch's order (so the batch's own messages count against a cap), and
a statement per outcome applies them: held (quiet hours), skipped, failed (a template
that cannot be rendered), delivered in this transaction (`log`, written as its last
step), or handed over to be attempted once it has committed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from domain.sending import Decision, Due, Fail, Hold, Send, Skip, decide, reads_profile
from domain.sending_rules import NO_RULES, SendingRules
from domain.templates import Rendered, Variables
from domain.walking import DeliveryState
from service.attempts import Attempt
from service.channel_table import ChannelTable, TransactionWriters
from service.metrics import OUTCOME_DELIVERED, OUTCOME_FAILED, OUTCOME_SKIPPED, Tally
from store import deliveries as delivery_store
from store import messages as message_store
from store import sending_rules as rules_store
from store.messages import JourneyMessages, Recipient

_NOBODY = Recipient({}, None)
_GONE = JourneyMessages("", {})


@dataclass
class HandedOver:
    """What a hand-over did: the attempts to make once its transaction has committed,
    the deliveries it made in it, and the counters it changed by journey."""

    attempts: list[Attempt] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    counters: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, journey_id: str, **changes: int) -> None:
        self.counters.setdefault(journey_id, Counter()).update(changes)


# When an attempt begun now is taken for lost: from the attempts by channel.
Lease = Callable[[datetime, Counter[str]], datetime]


class HandOver:
    def __init__(self, channels: ChannelTable, lease: Lease) -> None:
        self._channels = channels
        self._lease = lease

    def __call__(
        self,
        connection: Connection,
        now: datetime,
        ready: Sequence[Any],
        retries: Sequence[Any],
        writers: TransactionWriters,
    ) -> HandedOver:
        """Hand over `ready` (QUEUED, due) and `retries` (HANDED_OVER, due again): rows
        with id, public_id, journey_id, workspace_id, customer_id, enrollment_id,
        node_key, channel, template and attempts."""
        done = HandedOver()
        rows = [*ready, *retries]
        if not rows:
            return done
        journeys = message_store.journey_messages(connection, [r.journey_id for r in rows])
        rules = rules_store.rules_of(connection, sorted({r.workspace_id for r in rows}))
        messages = [journeys.get(row.journey_id, _GONE) for row in rows]
        nodes = [found.sends.get(row.node_key) for row, found in zip(rows, messages, strict=True)]
        wanted = [
            row.enrollment_id
            for row, node in zip(rows, nodes, strict=True)
            if reads_profile(row.channel, node, rules.get(row.workspace_id, NO_RULES))
        ]
        people = message_store.recipients(connection, wanted)
        sent = self._sent_lately(connection, now, ready, rules)
        first = {id(row) for row in ready}
        decided: list[tuple[Any, Decision]] = []
        for row, found, node in zip(rows, messages, nodes, strict=True):
            person = people.get(row.enrollment_id, _NOBODY)
            due = Due(
                channel=row.channel,
                node=node,
                variables=Variables(row.customer_id, person.attributes, person.event, found.name),
                first_hand_over=id(row) in first,
            )
            key = (row.workspace_id, row.customer_id)
            decision = decide(due, rules.get(row.workspace_id, NO_RULES), now, sent[key])
            if isinstance(decision, Send):
                sent[key] += 1  # counts against the cap for the rest of the batch
            decided.append((row, decision))
        self._apply(connection, now, decided, first, writers, done)
        return done

    def _sent_lately(
        self,
        connection: Connection,
        now: datetime,
        ready: Sequence[Any],
        rules: Mapping[str, SendingRules],
    ) -> Counter[tuple[str, str]]:
        """{(workspace, customer): messages handed over in the cap's window} for the
        customers of `ready` whose workspace has a cap; their rows are locked first."""
        sent: Counter[tuple[str, str]] = Counter()
        by_workspace: dict[str, list[str]] = {}
        for row in ready:
            if rules.get(row.workspace_id, NO_RULES).frequency_cap is not None:
                by_workspace.setdefault(row.workspace_id, []).append(row.customer_id)
        for workspace_id, customers in sorted(by_workspace.items()):
            cap = rules[workspace_id].frequency_cap
            assert cap is not None
            message_store.lock_customers(connection, workspace_id, customers)
            since = cap.counted_since(now)
            found = message_store.sent_since(connection, workspace_id, customers, since)
            sent.update({(workspace_id, customer): n for customer, n in found.items()})
        return sent

    def _apply(
        self,
        connection: Connection,
        now: datetime,
        decided: Sequence[tuple[Any, Decision]],
        first: set[int],
        writers: TransactionWriters,
        done: HandedOver,
    ) -> None:
        holds: list[tuple[int, datetime]] = []
        ends: list[tuple[int, DeliveryState, datetime, str | None]] = []
        delivered: list[tuple[Any, Rendered]] = []
        attempted: list[tuple[Any, Send]] = []
        for row, decision in decided:
            was = "queued" if id(row) in first else "handed_over"
            match decision:
                case Hold(until):
                    holds.append((row.id, until))
                case Skip(reason):
                    ends.append((row.id, DeliveryState.SKIPPED, now, reason))
                    done.count(row.journey_id, **{was: -1}, skipped=1)
                    done.tally[(row.channel, OUTCOME_SKIPPED)] += 1
                case Fail(reason):
                    ends.append((row.id, DeliveryState.FAILED, now, reason))
                    done.count(row.journey_id, **{was: -1}, failed=1)
                    done.tally[(row.channel, OUTCOME_FAILED)] += 1
                case Send() if self._channels.delivers_in_transaction(row.channel):
                    delivered.append((row, decision.message))
                    done.count(row.journey_id, **{was: -1}, delivered=1)
                    done.tally[(row.channel, OUTCOME_DELIVERED)] += 1
                case Send():
                    attempted.append((row, decision))
                    if was == "queued":
                        done.count(row.journey_id, queued=-1, handed_over=1)
        delivery_store.hold_deliveries(connection, holds, now)
        delivery_store.record_outcomes(connection, ends, now)
        delivery_store.set_delivered(connection, [row.id for row, _ in delivered], now, tries=1)
        for row, message in delivered:
            writers.add(row.channel, row.template, row.journey_id, [row], [message])
        if attempted:
            lease = self._lease(now, Counter(row.channel for row, _ in attempted))
            delivery_store.begin_attempts(connection, [row.id for row, _ in attempted], now, lease)
            destinations = self._channels.destinations(
                connection, [(row.channel, row.workspace_id) for row, _ in attempted]
            )
            done.attempts += [
                Attempt(
                    delivery_id=row.id,
                    public_id=row.public_id,
                    journey_id=row.journey_id,
                    workspace_id=row.workspace_id,
                    customer_id=row.customer_id,
                    channel=row.channel,
                    template=row.template,
                    number=row.attempts + 1,
                    destination=destinations.of(row.channel, row.workspace_id),
                    message=send.message,
                    recipient=send.recipient,
                )
                for row, send in attempted
            ]
