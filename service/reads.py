"""What callers may read, always within their own workspace.

Each read is one hop to a database thread, in one snapshot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection

from domain.content import JourneyKind
from domain.errors import ReplayUnavailable, ValidationFailed
from domain.events import LoggedStatusChange
from domain.journey import Journey
from domain.statuses import Status
from store import audience_lists, node_counters, queries
from store import counters as counter_store
from store import enrollments as enrollment_store
from store.database import Database
from store.node_counters import NodeCount as NodeCount  # what node_counts answers

MAX_PAGE = 100

P = ParamSpec("P")
T = TypeVar("T")


def checked_page_size(first: int | None, default: int = 20) -> int:
    if first is None:
        return default
    if not 0 <= first <= MAX_PAGE:
        raise ValidationFailed(f"first must be between 0 and {MAX_PAGE}, not {first}")
    return first


@dataclass(frozen=True)
class JourneyFilter:
    statuses: Sequence[Status] = field(default_factory=tuple)
    kind: JourneyKind | None = None
    name_contains: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class JourneyPage:
    journeys: list[Journey]  # newest first
    total_count: int
    has_next_page: bool


def in_snapshot(
    query: Callable[Concatenate[Connection, P], T],
) -> Callable[Concatenate[JourneyReads, P], Coroutine[Any, Any, T]]:
    """A read of the store as it is: the store's `query`, given the caller's arguments, in
    one snapshot (one hop to a database thread)."""

    async def read(reads: JourneyReads, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await reads._database.read(lambda connection: query(connection, *args, **kwargs))

    read.__doc__ = query.__doc__
    return read


class JourneyReads:
    def __init__(self, database: Database) -> None:
        self._database = database

    # Reads the store answers as they are (see each store function). The journey ids
    # they are given are those of journeys the caller has already been shown (from a
    # Journey of its workspace), and a list's id is one that a version refers to.
    journeys_by_id = in_snapshot(queries.journeys_by_id)
    audience = in_snapshot(audience_lists.members)
    status_counts = in_snapshot(queries.status_counts)
    versions = in_snapshot(queries.versions)
    counters = in_snapshot(counter_store.counters)
    node_counts = in_snapshot(node_counters.node_counts)
    customers_at_steps = in_snapshot(enrollment_store.customers_at_steps)
    histories = in_snapshot(queries.histories)
    pruned_through = in_snapshot(queries.pruned_through)
    last_sequence = in_snapshot(queries.last_sequence)
    next_due_at = in_snapshot(queries.next_due_at)

    async def journey(self, workspace_id: str, journey_id: str) -> Journey | None:
        found = await self.journeys_by_id(workspace_id, [journey_id])
        return found.get(journey_id)

    async def page(
        self, workspace_id: str, where: JourneyFilter, first: int, after_id: str | None
    ) -> JourneyPage:
        """A page of the workspace's journeys, newest first, older than the journey
        `after_id` when given: a journey of this workspace, or the read is refused.

        A page is found by the journey it follows, never by a position shared
        with other workspaces, so nothing a caller is given counts their journeys.
        """
        found = await self._database.read(
            lambda connection: queries.journeys_page(
                connection,
                workspace_id,
                statuses=where.statuses,
                kind=where.kind.value if where.kind else None,
                name_contains=where.name_contains,
                label=where.label,
                first=first,
                after_id=after_id,
            )
        )
        if not found.cursor_found:
            # Deleted since, or never one of ours: the same answer either way,
            # so a cursor tells nothing about another workspace.
            raise ValidationFailed(
                "this cursor names no journey of your workspace (it may have been deleted "
                "since); read the first page again, without `after`"
            )
        return JourneyPage(
            found.journeys[:first], found.total_count, has_next_page=len(found.journeys) > first
        )

    async def status_events(
        self,
        workspace_id: str,
        *,
        journey_id: str | None = None,
        after: int | None = None,
        first: int = MAX_PAGE,
    ) -> list[LoggedStatusChange]:
        """Logged events with a sequence above `after` (of one journey, or all), oldest first.

        Never a silent gap: when retention (service/retention.py) has deleted
        events this read should have returned, that is, `after` is below the
        workspace's `pruned_through`, it raises ReplayUnavailable
        (REPLAY_UNAVAILABLE). For one journey it raises only if that journey
        lost events to retention; a journey whose whole history is kept reads
        from any `after`. `after` None reads what the log keeps, from its
        oldest kept event, and never raises.
        """

        if after is not None and after < 0:
            raise ValidationFailed(f"after is a sequence number, 0 or more, not {after}")

        def read(connection: Connection) -> list[LoggedStatusChange]:
            events = queries.status_events(
                connection, workspace_id, journey_id=journey_id, after=after, first=first
            )
            if after is None or (events and events[0].sequence == after + 1):
                # The log keeps a contiguous run of numbers: event `after + 1`
                # being there proves nothing after `after` was deleted.
                return events
            # Read after the events: a deletion that hid some of them is seen here.
            pruned = queries.pruned_through(connection, workspace_id)
            if after < pruned and (
                journey_id is None
                or not queries.journey_log_is_whole(connection, workspace_id, journey_id)
            ):
                raise ReplayUnavailable(
                    f"events up to sequence {pruned} were removed from the log by retention, "
                    f"so the events after {after} can no longer be replayed; reload the "
                    "current state, then read or subscribe without `after`, or with "
                    f"`after` ≥ {pruned}",
                    pruned_through=pruned,
                )
            return events

        return await self._database.read(read)

    async def audit_trail(
        self, workspace_id: str, since: datetime, page: int = 1_000
    ) -> AsyncIterator[LoggedStatusChange]:
        """Every kept event of a workspace logged at or after `since`, in log order, a
        page (one snapshot read) at a time: any size, never held whole."""
        after = 0
        while True:
            events = await self._database.read(
                lambda connection, after=after: queries.status_events_since(  # type: ignore[misc]
                    connection, workspace_id, since, after, page
                )
            )
            for event in events:
                yield event
            if len(events) < page:
                return
            after = events[-1].sequence
