"""Moving customers and messages: the work the step processor does in batches.

- `advance`: enrollments whose step is due, in journeys that process, move
  on by one step (domain/walking.py); a SEND writes its delivery in the same
  transaction. Held journeys (PAUSED, FROZEN, ERROR) are left out, so their
  customers wait where they are, and a wait that ran out meanwhile is due
  at once when the journey runs again. A message with a recall window
  (`sendDelaySeconds`) is QUEUED; one without goes at once, its journey
  processing (held FOR SHARE by the batch): it is written HANDED_OVER, its
  first attempt begun, and sent once the transaction has committed, as
  `hand_over` does; on the `log` channel it is written DELIVERED (`_Lines`).
- `hand_over`: queued deliveries past their recall window, of journeys that
  process, are handed to their channel (HANDED_OVER is committed first, so
  a message is never recalled once a channel may have it), then their
  outcome is recorded. The `log` channel writes to this process's log, in
  the hand-over's own transaction (`_Lines` says why that keeps the
  guarantees); the `webhook` channel POSTs the batch's messages concurrently
  (service/webhook.py). A failed attempt stays HANDED_OVER, due again after
  a doubling delay, until it is delivered or out of attempts (FAILED);
  retries go on in every status but ERROR (domain/channels.py). An attempt
  whose outcome is never recorded (its process stopped) is due again when
  its lease runs out: at least once.
- a journey whose webhook attempts fail `channel_failure_limit` times in a
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
from typing import Any, TypeVar

from sqlalchemy import Connection

from domain.audience import exits_customers
from domain.channels import WEBHOOK, Streak, failing_reason, retry_delay
from domain.statuses import Status
from domain.walking import DeliveryState, apply_step, send_not_before
from service.clock import Clock
from service.metrics import Metrics
from service.settings import Settings
from service.webhook import Attempt, Outcome, WebhookSender
from store import audience as audience_store
from store import channels as channel_store
from store.database import Database

log = logging.getLogger(__name__)
channel_log = logging.getLogger("journeys.channel.log")

T = TypeVar("T")

LOG = "log"  # the channel that writes to this process's log (journeys.channel.log)
_DELIVERED = "delivered template %r to customer %r (journey %s, delivery %s)"

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


@dataclass(frozen=True)
class ChannelPolicy:
    """How failed attempts are retried and counted (service/settings.py)."""

    max_attempts: int = 5
    first_retry: timedelta = timedelta(seconds=30)
    failure_limit: int = 5

    @classmethod
    def of(cls, settings: Settings) -> ChannelPolicy:
        return cls(
            max_attempts=settings.webhook_max_attempts,
            first_retry=timedelta(seconds=settings.webhook_retry_seconds),
            failure_limit=settings.channel_failure_limit,
        )


# Fails a journey as the system: JourneyCommands.fail_by_system.
FailJourney = Callable[[str, str, str], Awaitable[object]]

# Delivery outcomes a transaction recorded, by (channel, outcome): the labels of
# journeys_deliveries, counted once the transaction has committed.
Tally = Counter[tuple[str, str]]
OUTCOME_DELIVERED = "DELIVERED"
OUTCOME_FAILED = "FAILED"  # out of attempts, or refused for good
OUTCOME_RETRY = "RETRY"  # failed, due again after a delay


@dataclass(frozen=True)
class _Failing:
    """A journey whose channel reached the limit of failures in a row."""

    workspace_id: str
    journey_id: str
    reason: str


@dataclass(frozen=True)
class _Taken:
    """What a batch's transaction moved, and the attempts it handed over to make
    once it has committed."""

    moved: int
    attempts: list[Attempt]
    tally: Tally  # the `log` channel's deliveries, made in the transaction


@dataclass(frozen=True)
class _Recorded:
    """What recording a batch's outcomes did: the outcomes, and the journeys whose
    channel has now failed too often in a row."""

    tally: Tally
    failing: list[_Failing]


class _Lines:
    """The `log` channel's messages of one transaction, written as its last step before
    the commit, which records them DELIVERED: the channel is this process's own log,
    written at once, so its hand-over and its outcome are one transaction.

    Why that keeps the guarantees. A message a channel may have must be on record as
    handed over (never recalled) or delivered, and one whose outcome is lost must be
    sent again (at least once). Here the lines go out only once every statement of the
    transaction has succeeded; if the commit then fails (or the process stops before it),
    nothing of the batch is recorded, its customers are still due at the same step, and
    the next batch writes the lines again: at least once, as an attempt whose outcome
    was lost today (a channel may see a message twice). Written after the commit
    instead, a stop between the two would lose them. The one difference from a channel
    outside the process: in that window a PAUSE or ABORT committed before the step is
    applied again holds or exits a customer whose line is already in the log."""

    def __init__(self) -> None:
        self._lines: list[tuple[str, str, str, int]] = []

    def add(self, template: str, journey_id: str, deliveries: Sequence[Any]) -> None:
        """Deliveries with `id` and `customer_id`, all of one template and journey."""
        self._lines += [(template, d.customer_id, journey_id, d.id) for d in deliveries]

    def write(self) -> None:
        if not self._lines or not channel_log.isEnabledFor(logging.INFO):
            return
        # One record a message, as `channel_log.info` makes it but for the caller's frame,
        # which it looks up on the stack every time (a fifth of a line's cost).
        for line in self._lines:
            channel_log.handle(
                logging.LogRecord(
                    channel_log.name, logging.INFO, __file__, 0, _DELIVERED, line, None, "write"
                )
            )


class Processing:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        webhooks: WebhookSender | None = None,
        policy: ChannelPolicy | None = None,
        fail_journey: FailJourney | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._database = database
        self._clock = clock
        self._webhooks = webhooks or WebhookSender(clock, timeout_seconds=5.0, concurrency=20)
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
        await self._webhooks.close()

    async def settle(self) -> int:
        """One batch of an aborted journey's rows marked EXITED / CANCELLED."""
        return await self._database.transaction(self._settle)

    async def _attempt(self, attempts: Sequence[Attempt]) -> None:
        """Send attempts that are HANDED_OVER (committed), then record their outcomes."""
        if not attempts:
            return
        outcomes: list[Outcome] = []  # in the order the attempts ended
        webhooks = []
        for attempt in attempts:
            if attempt.channel == WEBHOOK:
                webhooks.append(attempt)
            else:
                error = f"unknown channel {attempt.channel!r}"
                outcomes.append(Outcome(attempt, False, error, final=True))
        outcomes += await self._webhooks.send_all(webhooks)
        recorded = await self._database.transaction(
            lambda connection: self._record(connection, outcomes)
        )
        self._metrics.delivered(recorded.tally)
        for journey in recorded.failing:
            await self._fail(journey)

    # -- the transactions ---------------------------------------------------

    def _advance(self, connection: Connection) -> _Taken:
        now = self._clock.now()
        journeys = audience_store.busy_journeys(connection, now, JOURNEYS_PER_BATCH)
        if not journeys:
            return _Taken(0, [], Tally())
        due = audience_store.due_enrollments(
            connection, [journey.id for journey in journeys], now, STEP_BATCH
        )
        steps = audience_store.live_steps(connection, journeys)
        by_id = {journey.id: journey for journey in journeys}
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        for enrollment in due:
            groups[(enrollment.journey_id, enrollment.step_index)].append(enrollment.id)
        counters: dict[str, Counter[str]] = defaultdict(Counter)
        sends: list[tuple[Any, int, list[int], str, str]] = []  # journey, index, ids, ...
        for (journey_id, index), ids in groups.items():
            outcome = apply_step(steps[journey_id], index, now)
            audience_store.move(connection, ids, outcome.next_index, outcome.next_due_at, now)
            if outcome.send is not None:
                channel, template = outcome.send.channel or "", outcome.send.template or ""
                sends.append((by_id[journey_id], index, ids, channel, template))
            if outcome.completes:
                counters[journey_id].update(completed=len(ids), inside=-len(ids))
        # A message whose recall window is 0 goes at once: its journey processes (and
        # is held FOR SHARE until this commits), so it is handed over here, not queued.
        webhooks = [
            (journey, ids)
            for journey, _, ids, channel, _ in sends
            if channel == WEBHOOK and send_not_before(now, journey.send_delay_seconds) <= now
        ]
        lease = self._lease(now, sum(len(ids) for _, ids in webhooks))
        endpoints = self._endpoints(connection, [journey.workspace_id for journey, _ in webhooks])
        lines = _Lines()
        attempts: list[Attempt] = []
        tally = Tally()
        for journey, index, ids, channel, template in sends:
            not_before = send_not_before(now, journey.send_delay_seconds)
            if not_before > now:
                written = audience_store.queue_deliveries(
                    connection, ids, index, channel, template, now, not_before=not_before
                )
                counters[journey.id]["queued"] += len(written)
            elif channel == LOG:
                # Handed over and delivered in one transaction: see `_Lines`.
                written = audience_store.queue_deliveries(
                    connection, ids, index, channel, template, now,
                    state=DeliveryState.DELIVERED, not_before=now, attempts=1,
                )  # fmt: skip
                counters[journey.id]["delivered"] += len(written)
                tally[(LOG, OUTCOME_DELIVERED)] += len(written)
                lines.add(template, journey.id, written)
            else:
                written = audience_store.queue_deliveries(
                    connection, ids, index, channel, template, now,
                    state=DeliveryState.HANDED_OVER, not_before=lease, attempts=1,
                )  # fmt: skip
                counters[journey.id]["handed_over"] += len(written)
                endpoint = endpoints.get(journey.workspace_id)
                attempts += [
                    Attempt(
                        delivery_id=row.id,
                        public_id=row.public_id,
                        journey_id=journey.id,
                        workspace_id=journey.workspace_id,
                        customer_id=row.customer_id,
                        channel=channel,
                        template=template,
                        number=1,
                        url=endpoint.url if endpoint else None,
                        secret=endpoint.secret if endpoint else None,
                    )
                    for row in written
                ]
        audience_store.add_to_counters(connection, counters)
        lines.write()  # the last thing before the commit
        return _Taken(len(due), attempts, tally)

    def _take_ready(self, connection: Connection) -> _Taken:
        now = self._clock.now()
        due = audience_store.retries_due(connection, now, DELIVERY_BATCH)
        ready = audience_store.ready_deliveries(connection, now, DELIVERY_BATCH)
        if not due and not ready:
            return _Taken(0, [], Tally())
        counters: dict[str, Counter[str]] = defaultdict(Counter)
        for delivery in ready:
            counters[delivery.journey_id]["queued"] -= 1
        for delivery in due:
            counters[delivery.journey_id]["handed_over"] -= 1
        # `log` messages are handed over and delivered in this transaction (`_Lines`);
        # the others are handed over here and attempted once it has committed.
        logged = [delivery for delivery in due + ready if delivery.channel == LOG]
        taken = [delivery for delivery in due + ready if delivery.channel != LOG]
        lines = _Lines()
        tally = Tally({(LOG, OUTCOME_DELIVERED): len(logged)} if logged else {})
        if logged:
            audience_store.set_delivery_state(
                connection, [d.id for d in logged], DeliveryState.DELIVERED, now, tries=1
            )
            for delivery in logged:
                counters[delivery.journey_id]["delivered"] += 1
                lines.add(delivery.template, delivery.journey_id, [delivery])
        attempts = []
        if taken:
            # The lease: time to send the whole batch (its webhooks, so many at once)
            # and record it. An outcome not recorded by then is taken for lost.
            lease = self._lease(now, sum(1 for d in taken if d.channel == WEBHOOK))
            audience_store.begin_attempts(connection, [d.id for d in taken], now, lease)
            for delivery in taken:
                counters[delivery.journey_id]["handed_over"] += 1
            endpoints = self._endpoints(
                connection, [d.workspace_id for d in taken if d.channel == WEBHOOK]
            )
            for delivery in taken:
                endpoint = endpoints.get(delivery.workspace_id)
                attempts.append(
                    Attempt(
                        delivery_id=delivery.id,
                        public_id=delivery.public_id,
                        journey_id=delivery.journey_id,
                        workspace_id=delivery.workspace_id,
                        customer_id=delivery.customer_id,
                        channel=delivery.channel,
                        template=delivery.template,
                        number=delivery.attempts + 1,
                        url=endpoint.url if endpoint else None,
                        secret=endpoint.secret if endpoint else None,
                    )
                )
        audience_store.add_to_counters(connection, counters)
        lines.write()  # the last thing before the commit
        return _Taken(len(due) + len(ready), attempts, tally)

    def _lease(self, now: datetime, webhooks: int) -> datetime:
        """When an attempt begun now is taken for lost if its outcome is not recorded:
        time to send the batch's `webhooks` (so many at once) and record them."""
        rounds = -(-webhooks // self._webhooks.concurrency) + 1
        return now + LEASE_SLACK + timedelta(seconds=rounds * self._webhooks.timeout_seconds)

    @staticmethod
    def _endpoints(connection: Connection, workspace_ids: Sequence[str]) -> dict[str, Any]:
        if not workspace_ids:
            return {}
        return channel_store.endpoints(connection, sorted(set(workspace_ids)))

    def _record(self, connection: Connection, outcomes: Sequence[Outcome]) -> _Recorded:
        """Record each attempt's outcome."""
        now = self._clock.now()
        made = audience_store.attempts_made(connection, [o.attempt.delivery_id for o in outcomes])
        counters: dict[str, Counter[str]] = defaultdict(Counter)
        delivered: list[int] = []
        others: list[tuple[int, DeliveryState, datetime, str | None]] = []
        runs: dict[str, list[Outcome]] = defaultdict(list)
        tally = Tally()
        for outcome in outcomes:
            attempt = outcome.attempt
            row = made.get(attempt.delivery_id)
            if (
                row is None
                or row.state != DeliveryState.HANDED_OVER.value
                or row.attempts != attempt.number
            ):
                # A later attempt took it over (this one outlived its lease).
                continue
            if attempt.channel == WEBHOOK:
                runs[attempt.journey_id].append(outcome)
            if outcome.succeeded:
                delivered.append(attempt.delivery_id)
                counters[attempt.journey_id].update(handed_over=-1, delivered=1)
                tally[(attempt.channel, OUTCOME_DELIVERED)] += 1
            elif outcome.final or attempt.number >= self._policy.max_attempts:
                others.append((attempt.delivery_id, DeliveryState.FAILED, now, outcome.error))
                counters[attempt.journey_id].update(handed_over=-1, failed=1)
                tally[(attempt.channel, OUTCOME_FAILED)] += 1
            else:
                retry_at = now + retry_delay(attempt.number, self._policy.first_retry)
                others.append(
                    (attempt.delivery_id, DeliveryState.HANDED_OVER, retry_at, outcome.error)
                )
                tally[(attempt.channel, OUTCOME_RETRY)] += 1
        if delivered:
            audience_store.set_delivery_state(connection, delivered, DeliveryState.DELIVERED, now)
        audience_store.record_outcomes(connection, others, now)
        # Each journey's counters and run of failures, journey by journey in the order of
        # their ids: the counters' rows are locked in one order (`add_to_counters`).
        failing = []
        for journey_id in sorted(counters.keys() | runs.keys()):
            audience_store.add_to_counters(connection, {journey_id: counters[journey_id]})
            if journey_id not in runs:
                continue
            ended = runs[journey_id]
            streak = Streak.of([outcome.succeeded for outcome in ended])
            run = audience_store.extend_failure_run(
                connection, journey_id, streak.kept, streak.failures_after
            )
            if streak.failures_after and run >= self._policy.failure_limit:
                last = ended[-1].attempt
                reason = failing_reason(last.url, run, ended[-1].error or "failed")
                failing.append(_Failing(last.workspace_id, journey_id, reason))
        return _Recorded(tally, failing)

    async def _fail(self, failing: _Failing) -> None:
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
        for journey_id in audience_store.journeys_to_settle(connection, _EXITING, 10):
            moved += audience_store.settle_exits(connection, journey_id, SETTLE_BATCH)
        return moved
