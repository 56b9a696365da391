"""`journeyChanged`: which journey of the workspace was created, edited or deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

import gql.enums  # noqa: F401  (registers the domain's enums with GraphQL)
from domain.events import Change, JourneyChanged
from gql.context import Info
from gql.journeys.types import JourneyType
from gql.live.subscription import Events, Live, live_subscription


@strawberry.type(
    name="JourneyChange",
    description="A journey of your workspace written without a status change.",
)
class JourneyChangeType:
    change: strawberry.Private[JourneyChanged]

    @strawberry.field
    def journey_id(self) -> strawberry.ID:
        return strawberry.ID(self.change.journey_id)

    @strawberry.field(
        description="The journey's revision after the change (a deleted journey's last): "
        "a row you hold at this revision or later is current."
    )
    def revision(self) -> int:
        return self.change.revision

    @strawberry.field(description="CREATED (copies too), UPDATED or DELETED.")
    def what(self) -> Change:
        return self.change.what

    @strawberry.field(description="The journey as it is now; null once deleted.")
    async def journey(self, info: Info) -> JourneyType | None:
        found = await info.context.journey_loader().load(self.change.journey_id)
        return JourneyType.of(found) if found else None


@strawberry.type
class JourneySubscriptions:
    @live_subscription(
        description="Each journey of your workspace created (or copied), edited (content, "
        "name, labels, a version restored, an audience list) or deleted, as it is committed. "
        "Status changes are statusChanged's, not repeated here. A signal to re-read what "
        "you show, not a log: there is no `after`, and a client that was disconnected "
        "re-reads its journeys instead."
    )
    async def journey_changed(self, info: Info) -> Live[JourneyChangeType]:
        await info.context.principal()  # a refused token is the answer, before going live

        # No replay and no sequence: nothing logs these changes.
        async def live(events: Events) -> AsyncIterator[tuple[int | None, JourneyChangeType]]:
            async for event in events:
                if isinstance(event, JourneyChanged):
                    yield None, JourneyChangeType(change=event)

        return Live(live=live, current=False)
