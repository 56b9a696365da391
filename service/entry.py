"""Customers entering journeys: `trackEvent(s)` and `enrollCustomers`.

Each call is one transaction: the journeys concerned are read (and held
against a concurrent status change), the domain says who may enter, and
the admissions are one multi-row INSERT. Every customer that did not enter
comes back with a reason; nothing is dropped silently.

A tracked event is also kept (`customer_events`, one multi-row INSERT a call,
in the same transaction) and its customer gets a profile if it had none. An
event-triggered journey with a `triggerWhere` is triggered only by an event
whose properties meet every condition of its live version's filter: any
other event of that name did not trigger it, so it is neither an admission
nor a refusal for that journey (it is not in the event's result at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from domain.actions import require_write
from domain.condition_match import where_matches
from domain.customers import (
    MAX_EVENT_NAME_LENGTH,
    checked_event_time,
    checked_properties,
    is_valid_customer_id,
)
from domain.entry import MAX_ENROLL_BATCH, MAX_EVENT_BATCH, Refusal, admission_refusal
from domain.errors import NotFound, ValidationFailed
from domain.flow import Reentry
from domain.statuses import Status
from domain.text import text_problem
from service.bus import EventBus
from service.clock import Clock
from service.event_moves import goals_after_entry, moves_by_events
from service.tokens import Principal
from store import customer_events as event_store
from store import customers as customer_store
from store import enrollments as enrollment_store
from store import entry_journeys
from store.counters import add_to_counters
from store.customer_events import NewEvent
from store.database import Database


@dataclass(frozen=True)
class Rejected:
    customer_id: str
    reason: Refusal


@dataclass(frozen=True)
class Enrollment:
    admitted: int
    rejected: list[Rejected]


@dataclass(frozen=True)
class Refused:
    journey_id: str
    reason: Refusal


@dataclass(frozen=True)
class Tracked:
    """What one event did: the journeys its customer entered, and those it did not;
    the journeys whose goal it was (its customer converted) and those in which it
    released its customer from a WAIT_FOR_EVENT node."""

    entered: list[str] = field(default_factory=list)  # journey ids
    refused: list[Refused] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrackedEvent:
    name: str
    customer_id: str
    # A JSON object of named values (domain.customers), as given, checked by `track`;
    # None: no properties.
    properties: object = None
    # When it happened (with an offset); None: now.
    at: datetime | None = None


# Bad events named in one refusal, at most.
_PROBLEMS_SHOWN = 5


class EntryCommands:
    def __init__(self, database: Database, clock: Clock, bus: EventBus) -> None:
        self._database = database
        self._clock = clock
        # Told after admissions commit: the step processors apply first steps at once.
        self._bus = bus

    async def enroll(
        self, principal: Principal, journey_id: str, customer_ids: Sequence[str]
    ) -> Enrollment:
        """Admit these customers into one journey (of any kind) if it admits now."""
        if len(customer_ids) > MAX_ENROLL_BATCH:
            raise ValidationFailed(
                f"at most {MAX_ENROLL_BATCH} customer ids per call, not {len(customer_ids)}; "
                "send a longer list in several calls"
            )
        repeated = [c for c, n in _counts(customer_ids).items() if n > 1]
        if repeated:
            raise ValidationFailed(
                f"customer ids repeated in one call: {', '.join(map(repr, repeated[:5]))}"
                + (f" and {len(repeated) - 5} more" if len(repeated) > 5 else "")
            )

        require_write(principal.actor)  # before any lookup, like every command

        def enroll(connection: Connection) -> Enrollment:
            journey = entry_journeys.journey_for_admission(
                connection, principal.workspace_id, journey_id
            )
            if journey is None:
                raise NotFound(f"no journey with id {journey_id!r} in your workspace")
            now = self._clock.now()
            refusal = admission_refusal(
                Status(journey.status), journey.start_at, journey.end_at, now
            )
            valid = [c for c in customer_ids if is_valid_customer_id(c)]
            rejected = [Rejected(c, Refusal.INVALID_ID) for c in customer_ids if c not in valid]
            if refusal is not None:
                return Enrollment(0, rejected + [Rejected(c, refusal) for c in valid])
            wanted = [(journey_id, c) for c in valid]
            been = (
                enrollment_store.ever_entered(connection, wanted)
                if Reentry(journey.reentry) is Reentry.NEVER
                else set()
            )
            rejected += [Rejected(c, Refusal.ALREADY_ENTERED) for j, c in wanted if (j, c) in been]
            entered = enrollment_store.admit(
                connection, [pair for pair in wanted if pair not in been], now
            )
            add_to_counters(connection, enrollment_store.entered_counters(entered))
            # Every one of them is in the journey now (entered, or was inside): each has
            # a profile, an empty one when it had none.
            customer_store.ensure_profiles(connection, principal.workspace_id, valid, now)
            rejected += [
                Rejected(c, Refusal.ALREADY_IN_JOURNEY)
                for c in valid
                if (journey_id, c) not in entered and (journey_id, c) not in been
            ]
            return Enrollment(len(entered), rejected)

        result = await self._database.transaction(enroll)
        if result.admitted:
            await self._bus.announce_work()
        return result

    async def track(
        self, principal: Principal, events: Sequence[TrackedEvent], *, indexed: bool = True
    ) -> list[Tracked]:
        """Keep each event and admit its customer into every event-triggered journey of
        the workspace that listens for it, whose live `triggerWhere` its properties
        meet, and that admits now; every other journey it triggers refuses with a
        reason. Drafts and aborted journeys are not listening
        (domain.entry.listens_for_events). A bad event (name, properties or time)
        refuses the whole call, naming it by its index (`events[3]: ...`, unless not
        `indexed`: a single trackEvent), and nothing is written."""
        if not events:
            return []
        if len(events) > MAX_EVENT_BATCH:
            raise ValidationFailed(f"at most {MAX_EVENT_BATCH} events per call, not {len(events)}")
        checked = _checked_events(events, self._clock.now(), indexed)
        require_write(principal.actor)
        names = sorted({event.name for event in events})

        def track(connection: Connection) -> list[Tracked]:
            now = self._clock.now()
            # In this order (docs/rules.md, "Events"): goals, releases, admissions.
            reacting = entry_journeys.reacting_journeys(connection, principal.workspace_id, names)
            moves = moves_by_events(connection, reacting, events, checked, now)
            listening = entry_journeys.listening_journeys(connection, principal.workspace_id, names)
            refusals = {
                journey.id: admission_refusal(
                    Status(journey.status), journey.start_at, journey.end_at, now
                )
                for journey in listening
            }
            by_name: dict[str, list[entry_journeys.ListeningJourney]] = {}
            for journey in listening:
                by_name.setdefault(journey.trigger_event, []).append(journey)
            # The journeys each event triggers: those listening for its name whose
            # triggerWhere its properties meet (evaluated here, per event).
            triggered = [
                [
                    journey.id
                    for journey in by_name.get(event.name, ())
                    if where_matches(journey.trigger_where, properties, now)
                ]
                for event, (properties, _) in zip(events, checked, strict=True)
            ]
            # A customer the goal took out by a later event of the call was still
            # inside when an earlier one asked: that one cannot admit them.
            converted_by = {
                (journey_id, events[index].customer_id): index
                for index, journey_ids in moves.converted.items()
                for journey_id in journey_ids
            }

            def may_admit(index: int, pair: tuple[str, str]) -> bool:
                return index > converted_by.get(pair, -1)

            wanted = [
                (journey_id, event.customer_id)
                for index, (event, journey_ids) in enumerate(zip(events, triggered, strict=True))
                if is_valid_customer_id(event.customer_id)
                for journey_id in journey_ids
                if refusals[journey_id] is None
                and may_admit(index, (journey_id, event.customer_id))
            ]
            never = {j.id for j in listening if j.reentry is Reentry.NEVER}
            been = enrollment_store.ever_entered(
                connection, [pair for pair in wanted if pair[0] in never]
            )
            # An admission keeps the properties of the first event of the call that asked.
            admitting: dict[tuple[str, str], Any] = {}
            for index, (event, journey_ids) in enumerate(zip(events, triggered, strict=True)):
                for journey_id in journey_ids:
                    admitting.setdefault((journey_id, event.customer_id), checked[index][0])
            entered = enrollment_store.admit(
                connection,
                dict.fromkeys(pair for pair in wanted if pair not in been),
                now,
                events=admitting,
            )
            kept = [
                NewEvent(event.customer_id, event.name, properties, at or now)
                for event, (properties, at) in zip(events, checked, strict=True)
                if is_valid_customer_id(event.customer_id)
            ]
            customer_store.ensure_profiles(
                connection, principal.workspace_id, [event.customer_id for event in kept], now
            )
            event_store.record(connection, principal.workspace_id, kept, now)
            # Each admission counts once: for the first event that asked for it.
            unclaimed = set(entered)
            results = []
            for index, (event, journey_ids) in enumerate(zip(events, triggered, strict=True)):
                tracked = Tracked(
                    converted=moves.converted.get(index, []), released=moves.released.get(index, [])
                )
                for journey_id in journey_ids:
                    pair = (journey_id, event.customer_id)
                    if not is_valid_customer_id(event.customer_id):
                        tracked.refused.append(Refused(journey_id, Refusal.INVALID_ID))
                    elif (refusal := refusals[journey_id]) is not None:
                        tracked.refused.append(Refused(journey_id, refusal))
                    elif pair in unclaimed and may_admit(index, pair):
                        unclaimed.discard(pair)
                        tracked.entered.append(journey_id)
                    elif pair in been:
                        tracked.refused.append(Refused(journey_id, Refusal.ALREADY_ENTERED))
                    else:
                        tracked.refused.append(Refused(journey_id, Refusal.ALREADY_IN_JOURNEY))
                results.append(tracked)
            # A customer who entered by one event of the call and reached the goal by a
            # later one is out again: each event in its order.
            entries = {
                (journey_id, event.customer_id): index
                for index, (event, result) in enumerate(zip(events, results, strict=True))
                for journey_id in result.entered
            }
            later = goals_after_entry(
                connection, reacting, entries, events, checked, now, moves.counters
            )
            for index, journey_ids in later.items():
                results[index].converted.extend(journey_ids)
            # Every counter the call changed, written last and at once: the journeys'
            # counters in the order of their ids, then the node counters. A worker's
            # batch locks them in that order too, so neither waits for the other while
            # holding what the other wants (store/node_counters.py).
            moves.nodes.save(connection, moves.counters, enrollment_store.entered_counters(entered))
            return results

        results = await self._database.transaction(track)
        if any(result.entered or result.released for result in results):
            await self._bus.announce_work()
        return results


def _checked_events(
    events: Sequence[TrackedEvent], now: datetime, indexed: bool
) -> list[tuple[dict[str, Any], datetime | None]]:
    """Each event's properties and time (None: now, when it is written), or
    ValidationFailed naming the bad events by index."""
    checked: list[tuple[dict[str, Any], datetime | None]] = []
    problems: list[str] = []
    for index, event in enumerate(events):
        try:
            problem = text_problem("name", event.name, MAX_EVENT_NAME_LENGTH)
            if problem:
                raise ValidationFailed(problem)
            properties = checked_properties(event.properties)
            at = None if event.at is None else checked_event_time(event.at, now)
        except ValidationFailed as error:
            problems.append(f"events[{index}]: {error}" if indexed else str(error))
            continue
        checked.append((properties, at))
    if problems:
        more = len(problems) - _PROBLEMS_SHOWN
        raise ValidationFailed(
            "; ".join(problems[:_PROBLEMS_SHOWN])
            + (f"; and {more} more bad event(s); nothing was tracked" if more > 0 else "")
        )
    return checked


def _counts(values: Sequence[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return counted
