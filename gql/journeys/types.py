"""How a journey looks over GraphQL."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

import gql.enums  # noqa: F401  (registers the domain's enums with GraphQL)
from domain.actions import Action
from domain.content import JourneyKind, Step, StepType
from domain.journey import Journey, Version
from domain.statuses import Status
from gql.context import Info
from service.reads import checked_page_size

if TYPE_CHECKING:
    from gql.events.types import StatusEventType

MAX_HISTORY = 100


@strawberry.type(name="Step")
class JourneyStep:
    type: StepType
    seconds: int | None
    channel: str | None
    template: str | None

    @classmethod
    def of(cls, step: Step) -> JourneyStep:
        return cls(
            type=step.type, seconds=step.seconds, channel=step.channel, template=step.template
        )


@strawberry.type(name="JourneyVersion")
class JourneyVersionType:
    number: int
    steps: list[JourneyStep]
    start_at: datetime | None
    end_at: datetime | None
    trigger_event: str | None
    audience: list[str]
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, version: Version) -> JourneyVersionType:
        content = version.content
        return cls(
            number=version.number,
            steps=[JourneyStep.of(step) for step in content.steps],
            start_at=content.start_at,
            end_at=content.end_at,
            trigger_event=content.trigger_event,
            audience=list(content.audience),
            created_at=version.created_at,
            created_by=version.created_by,
        )


@strawberry.type(name="Journey")
class JourneyType:
    journey: strawberry.Private[Journey]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.journey.id)

    @strawberry.field
    def name(self) -> str:
        return self.journey.name

    @strawberry.field
    def kind(self) -> JourneyKind:
        return self.journey.kind

    @strawberry.field
    def status(self) -> Status:
        return self.journey.status

    @strawberry.field(
        description="The live version's start date, or the latest's while none is live."
    )
    def start_at(self) -> datetime | None:
        return self.journey.start_at

    @strawberry.field(
        description="The live version's end date, or the latest's while none is live."
    )
    def end_at(self) -> datetime | None:
        return self.journey.end_at

    @strawberry.field
    def trigger_event(self) -> str | None:
        return self.journey.trigger_event

    @strawberry.field(description="Bumped by every write; pass it back as expectedRevision.")
    def revision(self) -> int:
        return self.journey.revision

    @strawberry.field
    def created_at(self) -> datetime:
        return self.journey.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.journey.updated_at

    @strawberry.field
    def status_changed_at(self) -> datetime | None:
        return self.journey.status_changed_at

    @strawberry.field(description="Whether new customers may enter right now (status and dates).")
    def admits_new_audience(self, info: Info) -> bool:
        return self.journey.admits_new_audience(info.context.services.clock.now())

    @strawberry.field(description="Whether customers inside move on to their next steps.")
    def processes_steps(self) -> bool:
        return self.journey.processes_steps

    @strawberry.field(
        description="The actions you may take now and that would succeed: draw buttons from it."
    )
    def available_actions(self, info: Info) -> list[Action]:
        role = info.context.caller.role
        return self.journey.available_actions(role, info.context.services.clock.now())

    @strawberry.field
    def can_edit(self, info: Info) -> bool:
        return self.journey.may_be_edited_by(info.context.caller.role)

    @strawberry.field
    def can_delete(self, info: Info) -> bool:
        return self.journey.may_be_deleted_by(info.context.caller.role)

    @strawberry.field
    async def live_version(self, info: Info) -> JourneyVersionType | None:
        live = self.journey.live_version
        if live is None:
            return None
        if live == self.journey.latest.number:
            return JourneyVersionType.of(self.journey.latest)
        versions = await info.context.versions_loader().load(self.journey.id)
        return next((JourneyVersionType.of(v) for v in versions if v.number == live), None)

    @strawberry.field(description="The newest saved version, including edits not yet applied.")
    def latest_version(self) -> JourneyVersionType:
        return JourneyVersionType.of(self.journey.latest)

    @strawberry.field
    async def versions(self, info: Info) -> list[JourneyVersionType]:
        versions = await info.context.versions_loader().load(self.journey.id)
        return [JourneyVersionType.of(version) for version in versions]

    @strawberry.field
    def has_unapplied_changes(self) -> bool:
        return self.journey.has_unapplied_changes

    @strawberry.field
    async def copied_from(self, info: Info) -> JourneyType | None:
        source_id = self.journey.copied_from_id
        if source_id is None:
            return None
        source = await info.context.journey_loader().load(source_id)
        return JourneyType(journey=source) if source else None

    @strawberry.field
    def labels(self) -> list[str]:
        return list(self.journey.labels)

    @strawberry.field(description="Status events of this journey, oldest first.")
    async def history(
        self, info: Info, first: int | None = None
    ) -> list[Annotated[StatusEventType, strawberry.lazy("gql.events.types")]]:
        from gql.events.types import StatusEventType

        limit = checked_page_size(first, default=MAX_HISTORY)
        events = await info.context.history_loader(limit).load(self.journey.id)
        return [StatusEventType.of(event) for event in events]

    @strawberry.field(description="Why the journey is in ERROR (null in any other status).")
    def error_reason(self) -> str | None:
        return self.journey.error_reason


@strawberry.type
class StatusCount:
    status: Status
    count: int


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(name="JourneyEdge")
class JourneyEdge:
    cursor: str
    node: JourneyType


@strawberry.type(name="JourneyConnection")
class JourneyConnection:
    edges: list[JourneyEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[JourneyType]:
        return [edge.node for edge in self.edges]
