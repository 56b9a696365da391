"""`statusChanged`: the logged events after `after`, then live ones, with no gap.
`statusCountsChanged`: the counts now, then after changes, throttled.

Each is declared as gql/live/subscription.py describes: what it replays and
what it sends live; the hand-over, the sharing and the 4410 are the runtime's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from domain.errors import NotFound
from domain.events import WorkspaceEvent, moves_status_counts
from domain.statuses import Status
from gql.context import Info
from gql.events.types import StatusEventType
from gql.ids import journey_id_or_none
from gql.journeys.types import StatusCount
from gql.live.subscription import Events, Live, live_subscription, status_events
from service.throttle import throttled

REPLAY_PAGE = 500


@strawberry.type
class StatusEventSubscriptions:
    @live_subscription(
        description="Every status event of your workspace (or one journey). With `after`, "
        "first the logged events with a higher sequence, in order, then live ones."
    )
    async def status_changed(
        self, info: Info, journey_id: strawberry.ID | None = None, after: int | None = None
    ) -> Live[StatusEventType]:
        principal = await info.context.principal()
        services = info.context.services
        wanted = journey_id_or_none(journey_id)
        if (
            wanted is not None
            and await services.reads.journey(principal.workspace_id, wanted) is None
        ):
            raise NotFound(f"no journey with id {journey_id!r} in your workspace")

        async def replay(after: int) -> AsyncIterator[tuple[int, StatusEventType]]:
            while True:
                page = await services.reads.status_events(
                    principal.workspace_id, journey_id=wanted, after=after, first=REPLAY_PAGE
                )
                for event in page:
                    yield event.sequence, StatusEventType.of(event)
                if len(page) < REPLAY_PAGE:
                    return
                after = page[-1].sequence

        async def live(events: Events) -> AsyncIterator[tuple[int | None, StatusEventType]]:
            async for event in status_events(events):
                if wanted is None or event.change.journey_id == wanted:
                    yield event.sequence, StatusEventType.of(event)

        return Live(live=live, current=False, replay=replay)


# A journey created or deleted moves the counts without a status event: its
# signal is not logged, so a quiet dashboard also re-reads them this often
# and sends them if they moved (after a signal lost with Redis, say).
COUNTS_REFRESH_SECONDS = 10.0


async def count_changes(events: Events) -> AsyncIterator[WorkspaceEvent]:
    """The events that may move the counts (domain.events.moves_status_counts)."""
    async for event in events:
        if moves_status_counts(event):
            yield event


@strawberry.type
class StatusCountSubscriptions:
    @live_subscription(
        description="How many of your journeys are in each status: now, then after changes, "
        "at most once per interval (500 ms by default), always ending on the true counts."
    )
    async def status_counts_changed(self, info: Info) -> Live[list[StatusCount]]:
        principal = await info.context.principal()
        services = info.context.services

        async def counts() -> dict[Status, int]:
            return await services.reads.status_counts(principal.workspace_id)

        # No replay: the first message is the counts now. No sequence either:
        # each message is a fresh read, not a logged event. Current: each is
        # all the counts, so the latest is where a new subscriber starts.
        async def live(events: Events) -> AsyncIterator[tuple[int | None, list[StatusCount]]]:
            async for current in throttled(
                count_changes(events),
                counts,
                interval=services.settings.counts_interval_seconds,
                refresh_every=COUNTS_REFRESH_SECONDS,
            ):
                yield None, [StatusCount(status=status, count=n) for status, n in current.items()]

        return Live(live=live, current=True)
