"""Reading the status event log."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.events.types import StatusEventType
from gql.ids import journey_id_or_none
from service.reads import checked_page_size


@strawberry.type
class StatusEventQueries:
    @strawberry.field(description="Logged status events after a sequence number, oldest first.")
    async def status_events(
        self,
        info: Info,
        journey_id: strawberry.ID | None = None,
        after: int | None = None,
        first: int | None = None,
    ) -> list[StatusEventType]:
        principal = await info.context.principal()
        events = await info.context.services.reads.status_events(
            principal.workspace_id,
            journey_id=journey_id_or_none(journey_id),
            after=after,
            first=checked_page_size(first, default=100),
        )
        return [StatusEventType.of(event) for event in events]
