"""How a journey looks over GraphQL."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

import gql.enums  # noqa: F401  (registers the domain's enums with GraphQL)
from domain.actions import Action
from domain.condition_json import condition_to_json, where_to_json
from domain.condition_words import describe
from domain.content import Content, JourneyKind, Step, StepType
from domain.errors import ValidationFailed
from domain.flow import Reentry
from domain.flow_walk import nodes_removed
from domain.journey import Journey, Version
from domain.statuses import Status
from gql.context import Info
from gql.journeys.flow import JourneyNodeType
from gql.stats.types import JourneyStats, StepProgress
from service.reads import NodeCount, checked_page_size

if TYPE_CHECKING:
    from gql.events.types import StatusEventType

MAX_HISTORY = 100
MAX_AUDIENCE_PAGE = 1_000


@strawberry.type(description="A node of the live flow that the pending edits remove.")
class RemovedNode:
    key: str
    customers: int = strawberry.field(
        description="Customers at it now: on REACTIVATE their walk ends (NODE_REMOVED)."
    )


@strawberry.type(description="What REACTIVATE would change for the customers inside.")
class PendingChanges:
    nodes_removed: list[RemovedNode] = strawberry.field(
        description="Nodes of the live flow the pending version lacks, and who is at each."
    )


# The counts of a node nobody has reached yet.
_NOBODY = NodeCount(at=0, reached=0, branches={})


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


def _steps_shown(steps: tuple[Step, ...] | None) -> list[JourneyStep] | None:
    return None if steps is None else [JourneyStep.of(step) for step in steps]


@strawberry.type(name="JourneyVersion")
class JourneyVersionType:
    number: int
    steps: list[JourneyStep] | None = strawberry.field(
        description="The flow as a straight line of steps; null when it is not one (it "
        "branches, say): read nodes."
    )
    nodes: list[JourneyNodeType] = strawberry.field(
        description="The flow: its nodes, the first one the entry."
    )
    start_at: datetime | None
    end_at: datetime | None
    trigger_event: str | None
    audience_size: int = strawberry.field(
        description="How many customers the version's audience list holds (0: none)."
    )
    audience_list_id: strawberry.ID | None = strawberry.field(
        description="The audience list the version refers to; versions and copies share "
        "a list, which never changes once written."
    )
    send_delay_seconds: int
    audience_condition: JSON | None = strawberry.field(
        description="The audience by condition, in ConditionInput's JSON form (null: none)."
    )
    audience_condition_text: str | None = strawberry.field(
        description='The audience condition in words, e.g. birthday is in May and country is "VN".'
    )
    trigger_where: JSON | None = strawberry.field(
        description="The filter on the trigger's properties, as a list of "
        "AttributeConditionInput (null: none)."
    )
    goal_event: str | None = strawberry.field(
        description="The event that takes a customer out of the journey, converted."
    )
    goal_where: JSON | None = strawberry.field(
        description="The filter on the goal event's properties, as a list of "
        "AttributeConditionInput (null: none)."
    )
    reentry: Reentry
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, version: Version) -> JourneyVersionType:
        content = version.content
        condition = content.audience_condition
        return cls(
            number=version.number,
            steps=_steps_shown(content.steps),
            nodes=[JourneyNodeType.of(node) for node in content.nodes],
            start_at=content.start_at,
            end_at=content.end_at,
            trigger_event=content.trigger_event,
            audience_size=content.audience.size if content.audience else 0,
            audience_list_id=strawberry.ID(content.audience.id) if content.audience else None,
            send_delay_seconds=content.send_delay_seconds,
            audience_condition=JSON(condition_to_json(condition)) if condition else None,
            audience_condition_text=describe(condition) if condition else None,
            trigger_where=JSON(where_to_json(content.trigger_where))
            if content.trigger_where
            else None,
            goal_event=content.goal_event,
            goal_where=JSON(where_to_json(content.goal_where)) if content.goal_where else None,
            reentry=content.reentry,
            created_at=version.created_at,
            created_by=version.created_by,
        )

    @strawberry.field(
        description="The customers on the audience list, in list order: `first` of them "
        f"(at most {MAX_AUDIENCE_PAGE}) after the first `offset`."
    )
    async def audience(self, info: Info, first: int = 100, offset: int = 0) -> list[str]:
        if not 0 <= first <= MAX_AUDIENCE_PAGE or offset < 0:
            raise ValidationFailed(
                f"first must be between 0 and {MAX_AUDIENCE_PAGE}, and offset at least 0"
            )
        if self.audience_list_id is None or not first:
            return []
        return await info.context.services.reads.audience(str(self.audience_list_id), offset, first)


@strawberry.type(name="Journey")
class JourneyType:
    """Plain values are fields without resolvers (GraphQL reads them as attributes,
    the cheapest path through Strawberry); what depends on the caller or the clock
    is resolved."""

    id: strawberry.ID
    name: str
    kind: JourneyKind
    status: Status
    start_at: datetime | None = strawberry.field(
        description="The live version's start date, or the latest's while none is live."
    )
    end_at: datetime | None = strawberry.field(
        description="The live version's end date, or the latest's while none is live."
    )
    trigger_event: str | None
    send_delay_seconds: int = strawberry.field(
        description="How long each message stays recallable (still queued) before it is "
        "handed to its channel: the live version's, or the latest's while none is live."
    )
    revision: int = strawberry.field(
        description="Bumped by every write; pass it back as expectedRevision."
    )
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime | None
    labels: list[str]
    has_unapplied_changes: bool
    processes_steps: bool = strawberry.field(
        description="Whether customers inside move on to their next steps."
    )
    error_reason: str | None = strawberry.field(
        description="Why the journey is in ERROR (null in any other status)."
    )
    journey: strawberry.Private[Journey]

    @classmethod
    def of(cls, journey: Journey) -> JourneyType:
        return cls(
            id=strawberry.ID(journey.id),
            name=journey.name,
            kind=journey.kind,
            status=journey.status,
            start_at=journey.start_at,
            end_at=journey.end_at,
            trigger_event=journey.trigger_event,
            send_delay_seconds=journey.send_delay_seconds,
            revision=journey.revision,
            created_at=journey.created_at,
            updated_at=journey.updated_at,
            status_changed_at=journey.status_changed_at,
            labels=list(journey.labels),
            has_unapplied_changes=journey.has_unapplied_changes,
            processes_steps=journey.processes_steps,
            error_reason=journey.error_reason,
            journey=journey,
        )

    @strawberry.field(description="Whether new customers may enter right now (status and dates).")
    def admits_new_audience(self, info: Info) -> bool:
        return self.journey.admits_new_audience(info.context.services.clock.now())

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
    async def copied_from(self, info: Info) -> JourneyType | None:
        source_id = self.journey.copied_from_id
        if source_id is None:
            return None
        source = await info.context.journey_loader().load(source_id)
        return JourneyType.of(source) if source else None

    @strawberry.field(
        description="Its customers and messages now: who is inside (moving or held), who "
        "completed or was exited, and which messages are queued (recallable), handed over "
        "(not recallable), delivered, failed or cancelled."
    )
    async def stats(self, info: Info) -> JourneyStats:
        counters = await info.context.counters_loader().load(self.journey.id)
        return JourneyStats.of(counters, self.journey.status)

    async def _running_content(self, info: Info) -> Content:
        """The live version's content, or the latest's while none is live."""
        if self.journey.live_version in (None, self.journey.latest.number):
            return self.journey.latest.content
        versions = await info.context.versions_loader().load(self.journey.id)
        return next(v for v in versions if v.number == self.journey.live_version).content

    @strawberry.field(
        description="What REACTIVATE would do to the customers inside by making the pending "
        "edits live (null: no edits are pending)."
    )
    async def pending_changes(self, info: Info) -> PendingChanges | None:
        if not self.journey.has_unapplied_changes:
            return None
        live = await self._running_content(info)
        counts = await info.context.node_counts_loader().load(self.journey.id)
        removed = nodes_removed(live.flow, self.journey.latest.content.flow)
        return PendingChanges(
            nodes_removed=[
                RemovedNode(key=key, customers=counts.get(key, _NOBODY).at) for key in removed
            ]
        )

    @strawberry.field(
        description="Each step of the live version (the latest while none is live), with "
        "how many customers are at it; null when its flow is not a straight line of steps "
        "(read nodes)."
    )
    async def steps(self, info: Info) -> list[StepProgress] | None:
        steps = (await self._running_content(info)).steps
        if steps is None:
            return None
        at = await info.context.step_counts_loader().load(self.journey.id)
        # A customer past the end of a shorter version counts at its last step.
        last = len(steps) - 1
        counts = [0] * len(steps)
        for index, customers in at.items():
            if steps:
                counts[min(index, last)] += customers
        return [StepProgress.of(i, step, counts[i]) for i, step in enumerate(steps)]

    @strawberry.field(
        description="The flow of the live version (the latest while none is live): its "
        "nodes, the first one the entry."
    )
    async def nodes(self, info: Info) -> list[JourneyNodeType]:
        content = await self._running_content(info)
        counts = await info.context.node_counts_loader().load(self.journey.id)
        return [JourneyNodeType.of(node, counts.get(node.key, _NOBODY)) for node in content.nodes]

    @strawberry.field(description="Status events of this journey, oldest first.")
    async def history(
        self, info: Info, first: int | None = None
    ) -> list[Annotated[StatusEventType, strawberry.lazy("gql.events.types")]]:
        from gql.events.types import StatusEventType

        limit = checked_page_size(first, default=MAX_HISTORY)
        events = await info.context.history_loader(limit).load(self.journey.id)
        return [StatusEventType.of(event) for event in events]


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
