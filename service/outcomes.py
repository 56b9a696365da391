"""Recording what became of a batch's delivery attempts, once their channels answered.

A delivered message is DELIVERED; a failed one is due again after a doubling delay,
until it is out of attempts or its error is final (FAILED); the journey's counters
move with them, and so does its run of consecutive failures on a channel that counts
them: at `ChannelPolicy.failure_limit` the journey is named to be failed by the system.
An outcome whose attempt a later one took over (it outlived its lease) is left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from domain.channels import Streak, failing_reason, retry_delay
from domain.walking import DeliveryState
from service.attempts import Outcome
from service.channel_table import ChannelTable
from service.metrics import OUTCOME_DELIVERED, OUTCOME_FAILED, OUTCOME_RETRY, Tally
from service.settings import Settings
from store import counters as counter_store
from store import deliveries as delivery_store


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


@dataclass(frozen=True)
class Failing:
    """A journey whose channel reached the limit of failures in a row."""

    workspace_id: str
    journey_id: str
    reason: str


@dataclass(frozen=True)
class Recorded:
    """What recording a batch's outcomes did: the outcomes, and the journeys whose
    channel has now failed too often in a row."""

    tally: Tally
    failing: list[Failing]


def record_outcomes(
    connection: Connection,
    outcomes: Sequence[Outcome],
    channels: ChannelTable,
    policy: ChannelPolicy,
    now: datetime,
) -> Recorded:
    """Record each attempt's outcome: delivered, failed for good (out of attempts, or an
    error no retry mends), or due again after a doubling delay; each journey's counters
    and run of failures move with them."""
    made = delivery_store.attempts_made(connection, [o.attempt.delivery_id for o in outcomes])
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
        if channels.counts_failure_runs(attempt.channel) and outcome.counts_in_run:
            runs[attempt.journey_id].append(outcome)
        if outcome.succeeded:
            delivered.append(attempt.delivery_id)
            counters[attempt.journey_id].update(handed_over=-1, delivered=1)
            tally[(attempt.channel, OUTCOME_DELIVERED)] += 1
        elif outcome.final or attempt.number >= policy.max_attempts:
            others.append((attempt.delivery_id, DeliveryState.FAILED, now, outcome.error))
            counters[attempt.journey_id].update(handed_over=-1, failed=1)
            tally[(attempt.channel, OUTCOME_FAILED)] += 1
        else:
            retry_at = now + retry_delay(attempt.number, policy.first_retry)
            others.append((attempt.delivery_id, DeliveryState.HANDED_OVER, retry_at, outcome.error))
            tally[(attempt.channel, OUTCOME_RETRY)] += 1
    delivery_store.set_delivered(connection, delivered, now)
    delivery_store.record_outcomes(connection, others, now)
    # Each journey's counters and run of failures, journey by journey in the order of
    # their ids: the counters' rows are locked in one order (`add_to_counters`).
    failing = []
    for journey_id in sorted(counters.keys() | runs.keys()):
        counter_store.add_to_counters(connection, {journey_id: counters[journey_id]})
        if journey_id not in runs:
            continue
        ended = runs[journey_id]
        streak = Streak.of([outcome.succeeded for outcome in ended])
        run = counter_store.extend_failure_run(
            connection, journey_id, streak.kept, streak.failures_after
        )
        if streak.failures_after and run >= policy.failure_limit:
            last = ended[-1].attempt
            where = channels.describe(last.channel, last.destination)
            reason = failing_reason(where, run, ended[-1].error or "failed")
            failing.append(Failing(last.workspace_id, journey_id, reason))
    return Recorded(tally, failing)
