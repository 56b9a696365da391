"""How a logged status change looks over GraphQL."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

import gql.enums  # noqa: F401  (registers the domain's enums with GraphQL)
from domain.actions import Action, ActorKind
from domain.events import LoggedStatusChange
from domain.statuses import Status
from gql.context import Info

if TYPE_CHECKING:
    from gql.journeys.types import JourneyType


@strawberry.type(name="Actor")
class ActorType:
    kind: ActorKind
    name: str


@strawberry.type(name="StatusEvent")
class StatusEventType:
    event: strawberry.Private[LoggedStatusChange]

    @classmethod
    def of(cls, event: LoggedStatusChange) -> StatusEventType:
        return cls(event=event)

    @strawberry.field(description="Workspace-wide, in commit order; resume with `after`.")
    def sequence(self) -> int:
        return self.event.sequence

    @strawberry.field
    def journey_id(self) -> strawberry.ID:
        return strawberry.ID(self.event.change.journey_id)

    @strawberry.field
    async def journey(
        self, info: Info
    ) -> Annotated[JourneyType, strawberry.lazy("gql.journeys.types")] | None:
        from gql.journeys.types import JourneyType

        found = await info.context.journey_loader().load(self.event.change.journey_id)
        return JourneyType.of(found) if found else None

    @strawberry.field
    def previous_status(self) -> Status:
        return self.event.change.previous_status

    @strawberry.field
    def status(self) -> Status:
        return self.event.change.status

    @strawberry.field
    def action(self) -> Action:
        return self.event.change.action

    @strawberry.field
    def actor(self) -> ActorType:
        actor = self.event.change.actor
        return ActorType(kind=actor.kind, name=actor.name)

    @strawberry.field
    def reason(self) -> str | None:
        return self.event.change.reason

    @strawberry.field(description="The live version when the status changed.")
    def version(self) -> int | None:
        return self.event.change.version

    @strawberry.field
    def at(self) -> datetime:
        return self.event.change.at
