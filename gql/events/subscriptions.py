"""`statusChanged`: the logged events after `after`, then live ones, with no gap."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from domain.errors import NotFound
from domain.statuses import Status
from gql.context import Delivery, Info
from gql.events.types import StatusEventType
from gql.ids import journey_id_or_none
from gql.journeys.types import StatusCount
from service.feed import SubscriberTooSlow
from service.throttle import throttled

REPLAY_PAGE = 500


@strawberry.type
class StatusEventSubscriptions:
    @strawberry.subscription(
        description="Every status event of your workspace (or one journey). With `after`, "
        "first the logged events with a higher sequence, in order, then live ones."
    )
    async def status_changed(
        self, info: Info, journey_id: strawberry.ID | None = None, after: int | None = None
    ) -> AsyncGenerator[StatusEventType, None]:
        principal = await info.context.principal()
        services = info.context.services
        stream = info.context.stream
        wanted = journey_id_or_none(journey_id)
        if (
            wanted is not None
            and await services.reads.journey(principal.workspace_id, wanted) is None
        ):
            raise NotFound(f"no journey with id {journey_id!r} in your workspace")
        # gql/multiplex.py runs this twice for a subscriber with `after`: its own
        # replay, then the live events it shares with every subscriber alike.
        if stream.delivery is Delivery.REPLAY_ONLY:
            stream.last_sequence = after
            while after is not None:
                page = await services.reads.status_events(
                    principal.workspace_id,
                    journey_id=wanted,
                    after=stream.last_sequence,
                    first=REPLAY_PAGE,
                )
                for event in page:
                    stream.last_sequence = event.sequence
                    yield StatusEventType.of(event)
                if len(page) < REPLAY_PAGE:
                    break
            return
        async with services.feed.subscribe(principal.workspace_id) as live:
            stream.now_listening()
            try:
                async for event in live:
                    if wanted is None or event.change.journey_id == wanted:
                        stream.last_sequence = event.sequence
                        yield StatusEventType.of(event)
            except SubscriberTooSlow:
                stream.fell_behind()


# Counts also change without a status event (a journey created or deleted);
# a quiet dashboard re-reads them this often and sends them if they moved.
COUNTS_REFRESH_SECONDS = 10.0


@strawberry.type
class StatusCountSubscriptions:
    @strawberry.subscription(
        description="How many of your journeys are in each status: now, then after changes, "
        "at most once per interval (500 ms by default), always ending on the true counts."
    )
    async def status_counts_changed(self, info: Info) -> AsyncGenerator[list[StatusCount], None]:
        principal = await info.context.principal()
        services = info.context.services

        async def counts() -> dict[Status, int]:
            return await services.reads.status_counts(principal.workspace_id)

        if info.context.stream.delivery is Delivery.REPLAY_ONLY:
            return  # nothing to replay: the first message is the counts now
        async with services.feed.subscribe(principal.workspace_id) as live:
            info.context.stream.now_listening()
            async for current in throttled(
                aiter(live),
                counts,
                interval=services.settings.counts_interval_seconds,
                refresh_every=COUNTS_REFRESH_SECONDS,
            ):
                yield [StatusCount(status=status, count=n) for status, n in current.items()]
