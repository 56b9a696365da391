"""What a call's tracked events do to customers already inside journeys, before any
admission (docs/rules.md, "Events"):

1. a journey's goal event takes its customer out, whatever node they are at and
   whatever the journey's status (held included): CONVERTED;
2. an event a WAIT_FOR_EVENT node waits for (its properties meeting the node's
   `where`) releases its customer waiting there, if it happened after they reached
   the node and before their timeout ran out, in journeys that process now; in a held
   journey the release is decided when it runs again (service/reactions.py).

The domain says which (journey, customer) pairs each event concerns; each step is then
one statement for the whole call (store/event_moves.py); the call writes the counters
they change with its own, in the same transaction, once per journey.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from domain.condition_match import where_matches
from domain.customers import is_valid_customer_id
from domain.flow_walk import EVENT, release
from domain.walking import line_position
from store import event_moves
from store.entry_journeys import ReactingJourney
from store.event_moves import Release
from store.node_counters import NodeCounts


class _Event(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def customer_id(self) -> str: ...


@dataclass
class EventMoves:
    """The journeys each event (by its index in the call) converted or released its
    customer in; what that changed in the journeys' counters and node counters, for the
    call to write with its other changes, last (`NodeCounts.save`)."""

    converted: dict[int, list[str]] = field(default_factory=dict)
    released: dict[int, list[str]] = field(default_factory=dict)
    counters: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    nodes: NodeCounts = field(default_factory=NodeCounts)


def moves_by_events(
    connection: Connection,
    journeys: Sequence[ReactingJourney],
    events: Sequence[_Event],
    checked: Sequence[tuple[dict[str, Any], datetime | None]],
    now: datetime,
) -> EventMoves:
    """Apply the goals, then the releases, of these events (with their checked
    properties and times) in the journeys concerned."""
    moves = EventMoves()
    if not journeys:
        return moves
    counters, nodes = moves.counters, moves.nodes
    # The first event that asked for each (journey, customer) conversion or release.
    goal_askers: dict[tuple[str, str], int] = {}
    releases: dict[tuple[str, str, str], tuple[int, Release]] = {}
    for index, (event, (properties, at)) in enumerate(zip(events, checked, strict=True)):
        if not is_valid_customer_id(event.customer_id):
            continue
        for journey in journeys:
            if journey.goal_event == event.name and where_matches(
                journey.goal_where, properties, now
            ):
                goal_askers.setdefault((journey.id, event.customer_id), index)
            if journey.flow is None:
                continue
            for node in journey.flow.waiting_for(event.name):
                if not where_matches(node.where, properties, now):
                    continue
                outcome = release(journey.flow, node.key, now)
                releases.setdefault(
                    (journey.id, event.customer_id, node.key),
                    (
                        index,
                        Release(
                            journey.id,
                            event.customer_id,
                            node.key,
                            at or now,
                            outcome.target,
                            outcome.due_at,
                            line_position(journey.flow, outcome.target),
                        ),
                    ),
                )

    for row in event_moves.convert(connection, list(goal_askers), now):
        counters[row.journey_id].update(converted=1, inside=-1)
        if row.node_key is not None:
            nodes.leave(row.journey_id, row.node_key, 1)
        moves.converted.setdefault(goal_askers[(row.journey_id, row.customer_id)], []).append(
            row.journey_id
        )

    released = event_moves.release(connection, [r for _, r in releases.values()], now)
    for row in released:
        index, done = releases[(row.journey_id, row.customer_id, row.node_key)]
        nodes.leave(row.journey_id, done.node_key, 1)
        nodes.took(row.journey_id, done.node_key, EVENT, 1)
        if done.target is None:
            counters[row.journey_id].update(completed=1, inside=-1)
        else:
            nodes.arrive(row.journey_id, done.target, 1)
        moves.released.setdefault(index, []).append(row.journey_id)

    return moves


def goals_after_entry(
    connection: Connection,
    journeys: Sequence[ReactingJourney],
    entries: dict[tuple[str, str], int],
    events: Sequence[_Event],
    checked: Sequence[tuple[dict[str, Any], datetime | None]],
    now: datetime,
    counters: dict[str, Counter[str]],
) -> dict[int, list[str]]:
    """Take out, converted, the customers who entered a journey by an event of this call
    (`entries`: (journey id, customer id) -> the event's index) and whose later event in
    the call is that journey's goal; the journeys each goal event converted, by index.
    What it changes in the journeys' counters is added to `counters`, for the call to
    write; nobody who entered is at a node yet, so no node counter changes."""
    goals = {journey.id: journey for journey in journeys if journey.goal_event is not None}
    askers: dict[tuple[str, str], int] = {}
    for (journey_id, customer_id), entered_by in entries.items():
        journey = goals.get(journey_id)
        if journey is None:
            continue
        for index in range(entered_by + 1, len(events)):
            event, (properties, _) = events[index], checked[index]
            if (
                event.customer_id == customer_id
                and event.name == journey.goal_event
                and where_matches(journey.goal_where, properties, now)
            ):
                askers[(journey_id, customer_id)] = index
                break
    converted: dict[int, list[str]] = {}
    for row in event_moves.convert(connection, list(askers), now):
        counters[row.journey_id].update(converted=1, inside=-1)
        converted.setdefault(askers[(row.journey_id, row.customer_id)], []).append(row.journey_id)
    return converted
