"""Changing journeys: content, identity and status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType, revise
from domain.flow import DEFAULT_REENTRY, Reentry
from gql.conditions import AttributeConditionInput, ConditionInput, condition_of, where_of
from gql.context import Info
from gql.ids import journey_id
from gql.journeys.flow import NodeInput
from gql.journeys.types import JourneyType

_STEPS = 'The flow as a straight line of steps (keys "1", "2", ...); or give nodes.'
_NODES = (
    "The flow: its nodes, the first one the entry (or give steps, a straight line). Each "
    "problem is refused naming its node."
)

_GOAL_EVENT = (
    "The journey's goal: this event takes its customer out of the journey at once, "
    "whatever node they are at, counted as converted."
)
_GOAL_WHERE = "The goal event counts only when its properties meet every one of these."
_REENTRY = (
    "Whether a customer may enter again: AFTER_EXIT (the default) once out of it, NEVER "
    "if they have ever entered."
)


@strawberry.input
class StepInput:
    type: StepType
    seconds: int | None = None
    channel: str | None = None
    template: str | None = None

    def to_step(self) -> Step:
        return Step(self.type, self.seconds, self.channel, self.template)


@strawberry.input
class CreateJourneyInput:
    name: str
    kind: JourneyKind
    start_at: datetime | None = None
    end_at: datetime | None = None
    trigger_event: str | None = None
    audience: list[str] | None = strawberry.field(
        default=None,
        description="A segment journey's customers, inline (at most 10,000); upload a "
        "longer list to POST /journeys/{id}/audience.",
    )
    steps: list[StepInput] | None = strawberry.field(default=None, description=_STEPS)
    nodes: list[NodeInput] | None = strawberry.field(default=None, description=_NODES)
    labels: list[str] | None = None
    send_delay_seconds: int | None = strawberry.field(
        default=None,
        description="How long each message stays recallable (still queued) before it is sent; "
        "default 0.",
    )
    audience_condition: ConditionInput | None = strawberry.field(
        default=None,
        description="A segment journey's audience by condition, instead of a list: the "
        "profiles that match when the journey loads them (estimate: customerCount).",
    )
    trigger_where: list[AttributeConditionInput] | None = strawberry.field(
        default=None,
        description="An event-triggered journey admits only for a trigger event whose "
        "properties meet every one of these.",
    )
    goal_event: str | None = strawberry.field(default=None, description=_GOAL_EVENT)
    goal_where: list[AttributeConditionInput] | None = strawberry.field(
        default=None, description=_GOAL_WHERE
    )
    reentry: Reentry | None = strawberry.field(default=None, description=_REENTRY)

    def to_content(self) -> Content:
        flow: dict[str, object] = {}
        if self.steps is not None:
            flow["steps"] = tuple(step.to_step() for step in self.steps)
        if self.nodes is not None:
            flow["nodes"] = tuple(node.to_node() for node in self.nodes)
        rest = Content(
            start_at=self.start_at,
            end_at=self.end_at,
            trigger_event=self.trigger_event,
            send_delay_seconds=self.send_delay_seconds or 0,
            audience_condition=condition_of(self.audience_condition, "audienceCondition")
            if self.audience_condition
            else None,
            trigger_where=where_of(self.trigger_where, "triggerWhere"),
            goal_event=self.goal_event,
            goal_where=where_of(self.goal_where, "goalWhere"),
            reentry=self.reentry or DEFAULT_REENTRY,
        )
        return revise(rest, flow)


@strawberry.input(description="Content fields to change; a field left out stays as it is.")
class UpdateJourneyInput:
    start_at: datetime | None = strawberry.UNSET
    end_at: datetime | None = strawberry.UNSET
    trigger_event: str | None = strawberry.UNSET
    audience: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new inline list of customers (at most 10,000; [] or null clears "
        "it); upload a longer list to POST /journeys/{id}/audience.",
    )
    steps: list[StepInput] | None = strawberry.field(
        default=strawberry.UNSET, description=_STEPS + " Null or [] clears the flow."
    )
    nodes: list[NodeInput] | None = strawberry.field(
        default=strawberry.UNSET, description=_NODES + " Null or [] clears the flow."
    )
    send_delay_seconds: int | None = strawberry.UNSET
    audience_condition: ConditionInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new audience condition (null clears it); setting one clears the list.",
    )
    trigger_where: list[AttributeConditionInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new filter on the trigger's properties (null or [] clears it).",
    )
    goal_event: str | None = strawberry.field(
        default=strawberry.UNSET, description=_GOAL_EVENT + " Null clears it."
    )
    goal_where: list[AttributeConditionInput] | None = strawberry.field(
        default=strawberry.UNSET, description=_GOAL_WHERE + " Null or [] clears it."
    )
    reentry: Reentry | None = strawberry.field(
        default=strawberry.UNSET, description=_REENTRY + " Null: the default."
    )

    def to_changes(self) -> dict[str, object]:
        changes: dict[str, object] = {}
        for name in ("start_at", "end_at", "trigger_event", "goal_event"):
            value = getattr(self, name)
            if value is not strawberry.UNSET:
                changes[name] = value
        if self.steps is not strawberry.UNSET:
            changes["steps"] = tuple(step.to_step() for step in self.steps or ())
        if self.nodes is not strawberry.UNSET:
            changes["nodes"] = tuple(node.to_node() for node in self.nodes or ())
        if self.send_delay_seconds is not strawberry.UNSET:
            changes["send_delay_seconds"] = self.send_delay_seconds or 0
        if self.audience_condition is not strawberry.UNSET:
            if self.audience_condition is None:
                changes["audience_condition"] = None
            else:
                changes["audience_condition"] = condition_of(
                    self.audience_condition, "audienceCondition"
                )
                changes["audience"] = None  # a condition replaces the list
        if self.trigger_where is not strawberry.UNSET:
            changes["trigger_where"] = where_of(self.trigger_where, "triggerWhere")
        if self.goal_where is not strawberry.UNSET:
            changes["goal_where"] = where_of(self.goal_where, "goalWhere")
        if self.reentry is not strawberry.UNSET:
            changes["reentry"] = self.reentry or DEFAULT_REENTRY
        return changes


async def _take(
    info: Info,
    id: strawberry.ID,
    action: Action,
    expected_revision: int | None = None,
    reason: str | None = None,
) -> JourneyType:
    principal = await info.context.principal()
    journey = await info.context.services.commands.take(
        principal, journey_id(id), action, expected_revision, reason
    )
    return JourneyType.of(journey)


def _transition(action: Action, description: str) -> Any:
    """A mutation that takes one status action: `(id, expectedRevision, reason)`."""

    async def take(
        info: Info,
        id: strawberry.ID,
        expected_revision: int | None = None,
        reason: str | None = None,
    ) -> JourneyType:
        return await _take(info, id, action, expected_revision, reason)

    return strawberry.mutation(resolver=take, description=description)


_HANDED_OVER = (
    " Messages already handed to their channel (stats.handedOver) are not recalled; the "
    "returned stats say how many."
)


@strawberry.type
class JourneyMutations:
    activate_journey = _transition(
        Action.ACTIVATE,
        "Make the latest version live: SCHEDULED if the start date is ahead, else ACTIVE.",
    )
    pause_journey = _transition(
        Action.PAUSE,
        "Hold the journey: customers inside wait where they are, and messages not yet sent "
        "(stats.queuedDeliveries) wait with them until it runs again. New customers still "
        "enter and wait at their first step." + _HANDED_OVER,
    )
    resume_journey = _transition(
        Action.RESUME, "Run again with the live version: held customers and messages move on."
    )
    freeze_journey = _transition(
        Action.FREEZE,
        "Hold everything: no one enters, customers inside wait where they are, and messages "
        "not yet sent (stats.queuedDeliveries) wait until it runs again." + _HANDED_OVER,
    )
    close_journey = _transition(
        Action.CLOSE, "Stop new entries; customers inside go on to the end of the flow."
    )
    reactivate_journey = _transition(
        Action.REACTIVATE,
        "Run again with the latest version (pending edits applied): customers inside move "
        "onto it at the same step.",
    )
    abort_journey = _transition(
        Action.ABORT,
        "End for good: customers inside are taken out, and messages not yet sent are "
        "cancelled (stats.cancelledDeliveries); they never go out." + _HANDED_OVER,
    )
    recover_journey = _transition(
        Action.RECOVER,
        "Admins only: leave ERROR for the status it left, checked against the dates.",
    )

    @strawberry.mutation
    async def create_journey(self, info: Info, input: CreateJourneyInput) -> JourneyType:
        principal = await info.context.principal()
        journey = await info.context.services.commands.create(
            principal,
            name=input.name,
            kind=input.kind,
            content=input.to_content(),
            labels=input.labels or (),
            audience_ids=input.audience,
        )
        return JourneyType.of(journey)

    @strawberry.mutation(description="Save a new version of the content, where the status allows.")
    async def update_journey(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateJourneyInput,
        expected_revision: int | None = None,
    ) -> JourneyType:
        principal = await info.context.principal()
        journey = await info.context.services.commands.update(
            principal,
            journey_id(id),
            input.to_changes(),
            expected_revision,
            audience_ids=None if input.audience is strawberry.UNSET else input.audience or [],
        )
        return JourneyType.of(journey)

    @strawberry.mutation(description="Admins only: move the journey to ERROR.")
    async def mark_journey_error(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> JourneyType:
        return await _take(info, id, Action.FAIL, reason=reason)

    @strawberry.mutation(description="A new DESIGNING journey with the latest content.")
    async def copy_journey(
        self, info: Info, id: strawberry.ID, name: str | None = None
    ) -> JourneyType:
        principal = await info.context.principal()
        copy = await info.context.services.commands.copy(principal, journey_id(id), name)
        return JourneyType.of(copy)

    @strawberry.mutation(description="Only in DESIGNING; returns the deleted id.")
    async def delete_journey(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        principal = await info.context.principal()
        deleted = await info.context.services.commands.delete(principal, journey_id(id))
        return strawberry.ID(deleted)

    @strawberry.mutation
    async def rename_journey(
        self, info: Info, id: strawberry.ID, name: str, expected_revision: int | None = None
    ) -> JourneyType:
        principal = await info.context.principal()
        journey = await info.context.services.commands.rename(
            principal, journey_id(id), name, expected_revision
        )
        return JourneyType.of(journey)

    @strawberry.mutation
    async def set_journey_labels(
        self,
        info: Info,
        id: strawberry.ID,
        labels: list[str],
        expected_revision: int | None = None,
    ) -> JourneyType:
        principal = await info.context.principal()
        journey = await info.context.services.commands.set_labels(
            principal, journey_id(id), labels, expected_revision
        )
        return JourneyType.of(journey)

    @strawberry.mutation(description="Save an old version's content again as the newest version.")
    async def restore_journey_version(
        self,
        info: Info,
        id: strawberry.ID,
        number: int,
        expected_revision: int | None = None,
    ) -> JourneyType:
        principal = await info.context.principal()
        journey = await info.context.services.commands.restore_version(
            principal, journey_id(id), number, expected_revision
        )
        return JourneyType.of(journey)
