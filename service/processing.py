"""Moving customers and messages: the work the step processor does in batches.

- `advance`: enrollments due at a node, in journeys that process, have that
  node applied (domain/walking.py `apply_at`, domain/flow_walk.py): each
  (journey, node) group of the batch moves with one UPDATE per outcome of the
  node, which picks its customers in SQL (everyone; whose profile meets a
  CONDITION's condition, or not; a SPLIT branch's buckets); a SEND writes the
  deliveries of those it moved in the same transaction, at most one per
  enrollment and node. Held journeys (PAUSED, FROZEN, ERROR) are left out, so their
  customers wait where they are, and a wait that ran out meanwhile is due
  at once when the journey runs again. A message with a recall window
  (`sendDelaySeconds`) is QUEUED; one without goes at once, its journey
  processing (held FOR SHARE by the batch): it is written HANDED_OVER, its
  first attempt begun, and sent once the transaction has committed, as
  `hand_over` does; on a channel delivered in the transaction (`log`) it is
  written DELIVERED.
- `hand_over`: queued deliveries past their recall window, of journeys that
  process, are handed to their channel (HANDED_OVER is committed first, so
  a message is never recalled once a channel may have it), then their
  outcome is recorded. How each channel is handed over and what sends it is
  the channel table's (service/channel_table.py): the `log` channel writes
  to this process's log, in the hand-over's own transaction
  (service/log_channel.py says why that keeps the guarantees); the `webhook`
  channel POSTs the batch's messages concurrently (service/webhook.py). A
  failed attempt stays HANDED_OVER, due again after a doubling delay, until
  it is delivered or out of attempts (FAILED); retries go on in every status
  but ERROR (domain/channels.py); service/outcomes.py records them. An attempt
  whose outcome is never recorded (its process stopped) is due again when its
  lease runs out: at least once.
- a journey whose channel attempts fail `channel_failure_limit` times in a
  row is failed by the system (JourneyCommands.fail_by_system): ERROR holds
  its queued messages and its retries until RECOVER.
- `settle`: the rows of journeys that exited everyone (ABORT), whose
  counters already said so, are marked in batches.

Every batch is one transaction of a few set-based statements; workers
running it at once skip each other's rows (PostgreSQL `SKIP LOCKED`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from domain.flow_walk import Everyone
from domain.statuses import Status, exits_customers
from domain.walking import apply_at, line_position, send_not_before
from service.attempts import Attempt
from service.channel_table import channel_table
from service.clock import Clock
from service.email_channel import EmailChannel
from service.hand_over import HandOver
from service.metrics import Metrics, Tally
from service.outcomes import ChannelPolicy, Failing, record_outcomes
from service.webhook import WebhookSender
from store import counters as counter_store
from store import deliveries as delivery_store
from store import exits as exit_store
from store import moving as moving_store
from store.database import Database
from store.moving import Place
from store.node_counters import NodeCounts

log = logging.getLogger(__name__)

STEP_BATCH = 1000
DELIVERY_BATCH = 1000
SETTLE_BATCH = 5000
# Beyond the time to send a batch, how long before an attempt with no recorded
# outcome is taken for lost and made again.
LEASE_SLACK = timedelta(seconds=30)
# Journeys with due customers locked per step batch.
JOURNEYS_PER_BATCH = 100
# While one kind of work has a backlog, how often the others are asked again.
IDLE_RETRY_SECONDS = 0.1

_EXITING = [status.value for status in Status if exits_customers(status)]


# Fails a journey as the system: JourneyCommands.fail_by_system.
FailJourney = Callable[[str, str, str], Awaitable[object]]


@dataclass(frozen=True)
class _Queued:
    """A delivery a SEND just queued, due at once: as `ready_deliveries` reads one."""

    id: int
    public_id: UUID
    customer_id: str
    enrollment_id: int
    journey_id: str
    workspace_id: str
    node_key: str
    channel: str
    template: str
    attempts: int = 0


@dataclass(frozen=True)
class _Taken:
    """What a batch's transaction moved, and the attempts it handed over to make
    once it has committed."""

    moved: int
    attempts: list[Attempt]
    tally: Tally  # the deliveries made in the transaction (the `log` channel's)


class Processing:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        webhooks: WebhookSender | None = None,
        policy: ChannelPolicy | None = None,
        fail_journey: FailJourney | None = None,
        metrics: Metrics | None = None,
        email: EmailChannel | None = None,
    ) -> None:
        self._database = database
        self._clock = clock
        self._channels = channel_table(
            webhooks or WebhookSender(clock, timeout_seconds=5.0, concurrency=20),
            email or EmailChannel(clock, timeout_seconds=10.0),
        )
        self._hand_over = HandOver(self._channels, self._lease)
        self._policy = policy or ChannelPolicy()
        self._fail_journey = fail_journey
        self._metrics = metrics or Metrics()

    async def run_all(self, stopping: asyncio.Event | None = None) -> int:
        """Everything that is due now; returns the rows moved. The kinds of work take
        turns, a batch each, so that a backlog of one (a million messages to hand over)
        never holds back another (a customer who just entered). A kind that found
        nothing is asked again once IDLE_RETRY_SECONDS have passed; the pass ends when
        every kind found nothing at its last turn, or, once `stopping` is set, after the
        batch under way: what is left stays due, for whichever process looks next."""
        works = (self.advance, self.hand_over, self.settle)
        moved = 0
        idle_until: dict[int, float] = {}  # kinds whose last turn found nothing
        while len(idle_until) < len(works):
            for kind, work in enumerate(works):
                if stopping is not None and stopping.is_set():
                    return moved
                if time.monotonic() < idle_until.get(kind, 0.0):
                    continue
                done = await work()
                if done:
                    moved += done
                    idle_until.pop(kind, None)
                else:
                    idle_until[kind] = time.monotonic() + IDLE_RETRY_SECONDS
        return moved

    async def advance(self) -> int:
        """One batch of due steps; returns how many enrollments moved. The messages
        its SENDs may hand over at once are handed over in the same transaction and
        attempted after it (`_attempt`)."""
        taken = await self._database.transaction(self._advance)
        self._metrics.delivered(taken.tally)
        await self._attempt(taken.attempts)
        return taken.moved

    async def hand_over(self) -> int:
        """One batch of delivery attempts (first ones and retries due now), each
        handed to its channel; returns how many."""
        taken = await self._database.transaction(self._take_ready)
        self._metrics.delivered(taken.tally)
        await self._attempt(taken.attempts)
        return taken.moved

    async def close(self) -> None:
        await self._channels.close()

    async def settle(self) -> int:
        """One batch of an aborted journey's rows marked EXITED / CANCELLED."""
        return await self._database.transaction(self._settle)

    async def _attempt(self, attempts: Sequence[Attempt]) -> None:
        """Send attempts that are HANDED_OVER (committed), then record their outcomes."""
        if not attempts:
            return
        outcomes = await self._channels.send_all(attempts)  # in the order they ended
        recorded = await self._database.transaction(
            lambda connection: record_outcomes(
                connection, outcomes, self._channels, self._policy, self._clock.now()
            )
        )
        self._metrics.delivered(recorded.tally)
        for journey in recorded.failing:
            await self._fail(journey)

    # -- the transactions ---------------------------------------------------

    def _advance(self, connection: Connection) -> _Taken:
        now = self._clock.now()
        journeys = moving_store.busy_journeys(connection, now, JOURNEYS_PER_BATCH)
        if not journeys:
            return _Taken(0, [], Tally())
        due = moving_store.due_enrollments(
            connection, [journey.id for journey in journeys], now, STEP_BATCH
        )
        flows = moving_store.live_flows(connection, journeys)
        by_id = {journey.id: journey for journey in journeys}
        groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        for enrollment in due:
            groups[(enrollment.journey_id, enrollment.node_key)].append(enrollment.id)
        counters: dict[str, Counter[str]] = defaultdict(Counter)
        nodes = NodeCounts()
        sends: list[tuple[Any, str, list[int], str, str]] = []  # journey, node, ids, ...
        for (journey_id, at), ids in groups.items():
            journey, flow = by_id[journey_id], flows[journey_id]
            applied = apply_at(flow, at, now)
            # One UPDATE per outcome, each taking its part of the group in SQL.
            # The outcomes take each customer once, so the last one takes whoever the
            # others left, with no question asked again (the rows the earlier ones
            # moved are no longer looked at either).
            left = ids
            last = len(applied.outcomes) - 1
            for number, outcome in enumerate(applied.outcomes):
                to = Place(
                    outcome.target or applied.key,
                    outcome.due_at,
                    line_position(flow, outcome.target),
                )
                who = Everyone() if number == last else outcome.who
                moved = moving_store.move(
                    connection, journey.workspace_id, left, at, applied.key, who, to, now
                )
                if number < last and moved:
                    taken = set(moved)
                    left = [i for i in left if i not in taken]
                if outcome.message is not None and moved:
                    message = outcome.message
                    sends.append((journey, applied.key, moved, message.channel, message.template))
                nodes.walked(journey_id, at, applied.key, outcome, len(moved))
                if outcome.ends:
                    counters[journey_id].update(completed=len(moved), inside=-len(moved))
        # A SEND's messages are queued; those without a recall window are due at once
        # and handed over in this transaction (their journey processes, held FOR SHARE
        # until this commits), as `_take_ready` hands over those whose window passed.
        ready: list[Any] = []
        for journey, node_key, ids, channel, template in sends:
            not_before = send_not_before(now, journey.send_delay_seconds)
            written = delivery_store.queue_deliveries(
                connection, ids, node_key, channel, template, now, not_before=not_before
            )
            counters[journey.id]["queued"] += len(written)
            if not_before <= now:
                ready += [
                    _Queued(
                        row.id, row.public_id, row.customer_id, row.enrollment_id,
                        journey.id, journey.workspace_id, node_key, channel, template,
                    )
                    for row in written
                ]  # fmt: skip
        writers = self._channels.writers()
        handed = self._hand_over(connection, now, ready, [], writers)
        for journey_id, changes in handed.counters.items():
            counters[journey_id].update(changes)
        nodes.save(connection, counters)
        writers.write()  # the last thing before the commit
        return _Taken(len(due), handed.attempts, handed.tally)

    def _take_ready(self, connection: Connection) -> _Taken:
        now = self._clock.now()
        due = delivery_store.retries_due(connection, now, DELIVERY_BATCH)
        ready = delivery_store.ready_deliveries(connection, now, DELIVERY_BATCH)
        if not due and not ready:
            return _Taken(0, [], Tally())
        writers = self._channels.writers()
        handed = self._hand_over(connection, now, ready, due, writers)
        counter_store.add_to_counters(connection, handed.counters)
        writers.write()  # the last thing before the commit
        return _Taken(len(due) + len(ready), handed.attempts, handed.tally)

    def _lease(self, now: datetime, attempts: Counter[str]) -> datetime:
        """When an attempt begun now is taken for lost if its outcome is not recorded:
        time for the channels to send the batch's `attempts` (so many by channel), and
        to record them."""
        return now + LEASE_SLACK + self._channels.time_to_send(attempts)

    async def _fail(self, failing: Failing) -> None:
        if self._fail_journey is None:
            return
        try:
            failed = await self._fail_journey(
                failing.workspace_id, failing.journey_id, failing.reason
            )
        except Exception:
            # The outcomes are recorded; the next failure tries again.
            log.exception("could not fail journey %s", failing.journey_id)
            return
        if failed is not None:
            log.warning("journey %s is now in ERROR: %s", failing.journey_id, failing.reason)

    def _settle(self, connection: Connection) -> int:
        moved = 0
        for journey_id in exit_store.journeys_to_settle(connection, _EXITING, 10):
            moved += exit_store.settle_exits(connection, journey_id, SETTLE_BATCH)
        return moved
