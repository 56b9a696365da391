"""Moving customers and messages: the work the step processor does in batches.

- `advance`: enrollments whose step is due, in journeys that process, move
  on by one step (domain/walking.py); a SEND queues a delivery in the same
  transaction. Held journeys (PAUSED, FROZEN, ERROR) are left out, so their
  customers wait where they are, and a wait that ran out meanwhile is due
  at once when the journey runs again.
- `hand_over`: queued deliveries past their recall window, of journeys that
  process, are handed to their channel (HANDED_OVER is committed first, so
  a message is never recalled once a channel may have it), then their
  outcome is recorded.
- `settle`: the rows of journeys that exited everyone (ABORT), whose
  counters already said so, are marked in batches.

Every batch is one transaction of a few set-based statements; workers
running it at once skip each other's rows (PostgreSQL `SKIP LOCKED`).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection

from domain.audience import exits_customers
from domain.statuses import Status
from domain.walking import DeliveryState, apply_step, send_not_before
from service.clock import Clock
from store import audience as audience_store
from store.database import Database

log = logging.getLogger(__name__)
channel_log = logging.getLogger("journeys.channel.log")

T = TypeVar("T")

STEP_BATCH = 1000
DELIVERY_BATCH = 1000
SETTLE_BATCH = 5000
# Journeys with due customers locked per step batch.
JOURNEYS_PER_BATCH = 100

_EXITING = [status.value for status in Status if exits_customers(status)]


class Processing:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def run_all(self) -> int:
        """Everything that is due now, batch after batch; returns the rows moved."""
        moved = 0
        for work in (self.advance, self.hand_over, self.settle):
            while done := await work():
                moved += done
        return moved

    async def advance(self) -> int:
        """One batch of due steps; returns how many enrollments moved."""
        return await self._database.write(self._transaction(self._advance))

    async def hand_over(self) -> int:
        """One batch of deliveries handed to their channels; returns how many."""
        ready = await self._database.write(self._transaction(self._take_ready))
        if not ready:
            return 0
        delivered = []
        for delivery in ready:
            if delivery.channel == "log":
                channel_log.info(
                    "delivered template %r to customer %r (journey %s, delivery %s)",
                    delivery.template,
                    delivery.customer_id,
                    delivery.journey_id,
                    delivery.id,
                )
                delivered.append(delivery)
        failed = [delivery for delivery in ready if delivery not in delivered]
        await self._database.write(
            self._transaction(_record_outcomes(delivered, failed, self._clock))
        )
        return len(ready)

    async def settle(self) -> int:
        """One batch of an aborted journey's rows marked EXITED / CANCELLED."""
        return await self._database.write(self._transaction(self._settle))

    # -- the transactions ---------------------------------------------------

    def _advance(self, connection: Connection) -> int:
        now = self._clock.now()
        journeys = audience_store.busy_journeys(connection, now, JOURNEYS_PER_BATCH)
        if not journeys:
            return 0
        due = audience_store.due_enrollments(
            connection, [journey.id for journey in journeys], now, STEP_BATCH
        )
        steps = audience_store.live_steps(connection, journeys)
        delay = {journey.id: journey.send_delay_seconds for journey in journeys}
        groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
        for enrollment in due:
            groups[(enrollment.journey_id, enrollment.step_index)].append(enrollment)
        counters: dict[str, Counter[str]] = defaultdict(Counter)
        deliveries = []
        for (journey_id, index), enrollments in groups.items():
            outcome = apply_step(steps[journey_id], index, now)
            audience_store.move(
                connection,
                [enrollment.id for enrollment in enrollments],
                outcome.next_index,
                outcome.next_due_at,
                now,
            )
            if outcome.send is not None:
                not_before = send_not_before(now, delay[journey_id])
                deliveries += [
                    audience_store.delivery_row(enrollment, outcome.send, now, not_before)
                    for enrollment in enrollments
                ]
            if outcome.completes:
                counters[journey_id].update(completed=len(enrollments), inside=-len(enrollments))
        for journey_id in audience_store.queue_deliveries(connection, deliveries):
            counters[journey_id]["queued"] += 1
        audience_store.add_to_counters(connection, counters)
        return len(due)

    def _take_ready(self, connection: Connection) -> list[Any]:
        now = self._clock.now()
        ready = audience_store.ready_deliveries(connection, now, DELIVERY_BATCH)
        if ready:
            audience_store.set_delivery_state(
                connection, [d.id for d in ready], DeliveryState.HANDED_OVER, now, tries=1
            )
            counters: dict[str, Counter[str]] = defaultdict(Counter)
            for delivery in ready:
                counters[delivery.journey_id].update(queued=-1, handed_over=1)
            audience_store.add_to_counters(connection, counters)
        return ready

    def _settle(self, connection: Connection) -> int:
        moved = 0
        for journey_id in audience_store.journeys_to_settle(connection, _EXITING, 10):
            moved += audience_store.settle_exits(connection, journey_id, SETTLE_BATCH)
        return moved

    @staticmethod
    def _transaction(work: Callable[[Connection], T]) -> Callable[[Connection], T]:
        def in_transaction(connection: Connection) -> T:
            with connection.begin() as transaction:
                result = work(connection)
                transaction.commit()
                return result

        return in_transaction


def _record_outcomes(
    delivered: Sequence[Any], failed: Sequence[Any], clock: Clock
) -> Callable[[Connection], int]:
    def record(connection: Connection) -> int:
        now = clock.now()
        counters: dict[str, Counter[str]] = defaultdict(Counter)
        if delivered:
            audience_store.set_delivery_state(
                connection, [d.id for d in delivered], DeliveryState.DELIVERED, now
            )
            for delivery in delivered:
                counters[delivery.journey_id].update(handed_over=-1, delivered=1)
        if failed:
            audience_store.set_delivery_state(
                connection, [d.id for d in failed], DeliveryState.FAILED, now
            )
            for delivery in failed:
                counters[delivery.journey_id].update(handed_over=-1, failed=1)
        audience_store.add_to_counters(connection, counters)
        return len(delivered) + len(failed)

    return record
