"""What callers may read, always within their own workspace."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.errors import ReplayUnavailable, ValidationFailed
from domain.events import LoggedStatusChange
from domain.journey import Journey, Version
from domain.statuses import Status
from store import queries
from store.database import Database
from store.queries import JourneyFilter, JourneyPage

MAX_PAGE = 100


def checked_page_size(first: int | None, default: int = 20) -> int:
    if first is None:
        return default
    if not 0 <= first <= MAX_PAGE:
        raise ValidationFailed(f"first must be between 0 and {MAX_PAGE}, not {first}")
    return first


class JourneyReads:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def journey(self, workspace_id: str, journey_id: str) -> Journey | None:
        async with self._database.session() as session:
            return await queries.journey(session, workspace_id, journey_id)

    async def journeys_by_id(
        self, workspace_id: str, journey_ids: Sequence[str]
    ) -> dict[str, Journey]:
        async with self._database.session() as session:
            return await queries.journeys_by_id(session, workspace_id, journey_ids)

    async def page(
        self, workspace_id: str, where: JourneyFilter, first: int, after_position: int | None
    ) -> JourneyPage:
        async with self._database.session() as session:
            return await queries.journeys_page(session, workspace_id, where, first, after_position)

    async def status_counts(self, workspace_id: str) -> dict[Status, int]:
        async with self._database.session() as session:
            return await queries.status_counts(session, workspace_id)

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
        async with self._database.session() as session:
            events = await queries.status_events(
                session, workspace_id, journey_id=journey_id, after=after, first=first
            )
            if after is None or (events and events[0].sequence == after + 1):
                # The log keeps a contiguous run of numbers: event `after + 1`
                # being there proves nothing after `after` was deleted.
                return events
            # Read after the events: a deletion that hid some of them is seen here.
            pruned = await queries.pruned_through(session, workspace_id)
            if after < pruned and (
                journey_id is None
                or not await queries.journey_log_is_whole(session, workspace_id, journey_id)
            ):
                raise ReplayUnavailable(
                    f"events up to sequence {pruned} were removed from the log by retention, "
                    f"so the events after {after} can no longer be replayed; reload the "
                    "current state, then read or subscribe without `after`, or with "
                    f"`after` ≥ {pruned}",
                    pruned_through=pruned,
                )
            return events

    async def histories(
        self, workspace_id: str, journey_ids: Sequence[str], first: int
    ) -> dict[str, list[LoggedStatusChange]]:
        """The first `first` kept events of each journey: after retention, a journey's
        history starts at its oldest kept event (no error, unlike `status_events`)."""
        async with self._database.session() as session:
            return await queries.histories(session, workspace_id, journey_ids, first)

    async def versions(self, journey_ids: Sequence[str]) -> dict[str, list[Version]]:
        """Versions of journeys the caller has already been shown (ids come from a Journey)."""
        async with self._database.session() as session:
            return await queries.versions(session, journey_ids)

    async def pruned_through(self, workspace_id: str) -> int:
        """The highest sequence retention has deleted from the log (0: none): the lowest
        `after` that `status_events` answers for the whole workspace."""
        async with self._database.session() as session:
            return await queries.pruned_through(session, workspace_id)

    async def last_sequence(self, workspace_id: str) -> int:
        async with self._database.session() as session:
            return await queries.last_sequence(session, workspace_id)

    async def next_due_at(self) -> datetime | None:
        async with self._database.session() as session:
            return await queries.next_due_at(session)
