"""`journeyStatsChanged`: a journey's customers and messages, live, throttled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from domain.errors import NotFound
from gql.context import Info
from gql.ids import journey_id as parse_journey_id
from gql.live.subscription import Events, Live, live_subscription, status_events
from gql.stats.types import JourneyStats
from service.throttle import throttled


@strawberry.type
class JourneyStatsSubscriptions:
    @live_subscription(
        description="A journey's stats now, then whenever they change (customers moving, "
        "messages going out, a status change), at most once per interval (500 ms by "
        "default), always ending on the true value: watch a closed journey drain to zero."
    )
    async def journey_stats_changed(
        self, info: Info, journey_id: strawberry.ID
    ) -> Live[JourneyStats]:
        principal = await info.context.principal()
        services = info.context.services
        wanted = parse_journey_id(journey_id)
        if await services.reads.journey(principal.workspace_id, wanted) is None:
            raise NotFound(f"no journey with id {journey_id!r} in your workspace")
        interval = services.settings.counts_interval_seconds

        async def stats() -> JourneyStats:
            journey = await services.reads.journey(principal.workspace_id, wanted)
            counters = (await services.reads.counters([wanted])).get(wanted)
            if journey is None or counters is None:  # deleted meanwhile
                raise NotFound(f"no journey with id {journey_id!r} in your workspace")
            return JourneyStats.of(counters, journey.status)

        async def of_this_journey(events: Events) -> AsyncIterator[object]:
            async for event in status_events(events):
                if event.change.journey_id == wanted:
                    yield event

        # Customers and messages move without a status event: the counters are
        # re-read every interval and sent when they moved; a status change of
        # this journey (held or running again) is sent as soon as it may be.
        async def live(events: Events) -> AsyncIterator[tuple[int | None, JourneyStats]]:
            async for value in throttled(
                of_this_journey(events), stats, interval=interval, refresh_every=interval
            ):
                yield None, value

        return Live(live=live, current=True)
