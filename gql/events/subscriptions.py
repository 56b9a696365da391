"""`statusChanged`: the logged events after `after`, then live ones, with no gap."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import strawberry
from starlette.websockets import WebSocket

from domain.errors import NotFound
from domain.statuses import Status
from gql.context import Info
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
        wanted = journey_id_or_none(journey_id)
        if (
            wanted is not None
            and await services.reads.journey(principal.workspace_id, wanted) is None
        ):
            raise NotFound(f"no journey with id {journey_id!r} in your workspace")
        # Listen first, then replay: whatever commits during the replay waits
        # in the subscription and is skipped there if the replay already sent it.
        async with services.feed.subscribe(principal.workspace_id) as live:
            last_sent = after
            while after is not None:
                page = await services.reads.status_events(
                    principal.workspace_id, journey_id=wanted, after=last_sent, first=REPLAY_PAGE
                )
                for event in page:
                    yield StatusEventType.of(event)
                    last_sent = event.sequence
                if len(page) < REPLAY_PAGE:
                    break
            try:
                async for event in live:
                    if last_sent is not None and event.sequence <= last_sent:
                        continue
                    if wanted is None or event.change.journey_id == wanted:
                        yield StatusEventType.of(event)
            except SubscriberTooSlow:
                await close_for_resume(info)


# A client that reads too slowly is disconnected with this code: it should
# reconnect and subscribe again with `after` = the last sequence it saw.
RESUME_WITH_AFTER = 4410


async def close_for_resume(info: Info) -> None:
    socket = info.context.request
    if isinstance(socket, WebSocket):
        with contextlib.suppress(RuntimeError):
            await socket.close(RESUME_WITH_AFTER, "too far behind: reconnect with `after`")


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

        async with services.feed.subscribe(principal.workspace_id) as live:
            async for current in throttled(
                aiter(live),
                counts,
                interval=services.settings.counts_interval_seconds,
                refresh_every=COUNTS_REFRESH_SECONDS,
            ):
                yield [StatusCount(status=status, count=n) for status, n in current.items()]
