"""What a journey does: its flow, audience, trigger and dates, and their rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import cast

from domain.conditions import AttributeCondition, Condition
from domain.errors import ValidationFailed
from domain.flow import (
    DEFAULT_REENTRY,
    Flow,
    Node,
    Reentry,
    flow_from_steps,
    step_of,
    steps_of,
)
from domain.flow_checks import flow_problems

# A journey's content may be given as steps: these are re-exported for that.
from domain.steps import Step as Step
from domain.steps import StepType as StepType
from domain.steps import step_problems
from domain.text import MAX_TEXT_LENGTH, text_problem

MAX_NAME_LENGTH = 200
MAX_LABELS = 20
MAX_LABEL_LENGTH = 50
MAX_REASON_LENGTH = 500
# A recall window longer than a week would hold messages past any campaign's point.
MAX_SEND_DELAY_SECONDS = 7 * 24 * 3600

STEPS_OR_NODES = "give the flow as steps (a straight line of WAIT and SEND) or as nodes, not both"


class JourneyKind(StrEnum):
    EVENT_TRIGGERED = "EVENT_TRIGGERED"
    SEGMENT_SCHEDULED = "SEGMENT_SCHEDULED"


@dataclass(frozen=True)
class AudienceList:
    """A segment journey's customers: a list kept as its own rows, written once (by
    an upload or from inline ids) and never changed, so versions and copies may
    share it. A version refers to it; its ids are never copied into content."""

    id: str
    size: int


@dataclass(frozen=True, init=False)
class Content:
    """One version's worth of content. Dates are timezone-aware (UTC).

    Its flow is `nodes` (domain.flow), the one thing stored. Content may be
    given `steps` instead, a straight line: their flow, keys "1", "2", ...
    (`flow_from_steps`). `steps` answers the flow as such a line, or None when
    it is not one (it branches, say).
    """

    nodes: tuple[Node, ...]
    start_at: datetime | None
    end_at: datetime | None
    trigger_event: str | None
    audience: AudienceList | None
    # How long a queued message stays recallable before it is handed over.
    send_delay_seconds: int
    # A segment journey's audience by condition: the profiles that match when the
    # load reaches them (instead of a list).
    audience_condition: Condition | None
    # An event-triggered journey admits only for a trigger whose properties meet these.
    trigger_where: tuple[AttributeCondition, ...]
    # The journey's goal: this event, with properties meeting `goal_where`, takes a
    # customer out whatever node they are at (converted).
    goal_event: str | None
    goal_where: tuple[AttributeCondition, ...]
    # Whether a customer who has been through the journey may enter it again.
    reentry: Reentry

    def __init__(
        self,
        *,
        nodes: Iterable[Node] | None = None,
        steps: Iterable[Step] | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        trigger_event: str | None = None,
        audience: AudienceList | None = None,
        send_delay_seconds: int = 0,
        audience_condition: Condition | None = None,
        trigger_where: tuple[AttributeCondition, ...] = (),
        goal_event: str | None = None,
        goal_where: tuple[AttributeCondition, ...] = (),
        reentry: Reentry = DEFAULT_REENTRY,
    ) -> None:
        if nodes is not None and steps is not None:
            raise ValidationFailed(STEPS_OR_NODES)
        given = tuple(nodes) if nodes is not None else flow_from_steps(tuple(steps or ())).nodes
        fields = {
            "nodes": given,
            "start_at": start_at,
            "end_at": end_at,
            "trigger_event": trigger_event,
            "audience": audience,
            "send_delay_seconds": send_delay_seconds,
            "audience_condition": audience_condition,
            "trigger_where": trigger_where,
            "goal_event": goal_event,
            "goal_where": goal_where,
            "reentry": reentry,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)  # the way into a frozen dataclass

    @property
    def flow(self) -> Flow:
        return Flow(self.nodes)

    @property
    def steps(self) -> tuple[Step, ...] | None:
        """The flow as a straight line of steps, or None when it is not one."""
        return steps_of(self.flow)


# The fields a version stores (`steps` is another way to give `nodes`).
CONTENT_FIELDS = (
    "nodes",
    "start_at",
    "end_at",
    "trigger_event",
    "audience",
    "send_delay_seconds",
    "audience_condition",
    "trigger_where",
    "goal_event",
    "goal_where",
    "reentry",
)


def revise(content: Content, changes: Mapping[str, object]) -> Content:
    """The content with `changes` applied; a field absent from `changes` is unchanged.

    The flow may change as `nodes` or as `steps` (not both). Nodes given are held
    to every rule of a flow (`domain.flow_checks`), each problem naming its node;
    steps to the rules of steps, which let a draft keep a step incomplete.
    """
    unknown = set(changes) - {*CONTENT_FIELDS, "steps"}
    if unknown:
        raise ValueError(f"not content fields: {sorted(unknown)}")
    if "steps" in changes and "nodes" in changes:
        raise ValidationFailed(STEPS_OR_NODES)
    fields = dict(changes)
    if "steps" in fields:
        steps = cast("Iterable[Step] | None", fields.pop("steps"))
        fields["nodes"] = flow_from_steps(tuple(steps or ())).nodes
    revised = replace(content, **fields)  # type: ignore[arg-type]
    return _checked(revised, nodes_given=bool(changes.get("nodes")))


def normalized(content: Content) -> Content:
    """The content, or ValidationFailed naming every value our rules never accept.

    A flow that is a straight line of steps is held to the rules of steps (a
    draft may leave a step incomplete), any other to the rules of a flow.
    """
    return _checked(content, nodes_given=False)


def _checked(content: Content, nodes_given: bool) -> Content:
    problems: list[str] = []
    for field, value in (("startAt", content.start_at), ("endAt", content.end_at)):
        if value is not None and value.utcoffset() is None:
            problems.append(f"{field} must carry a UTC offset, e.g. 2026-12-01T09:00:00Z")
    if not problems and content.start_at and content.end_at and content.end_at <= content.start_at:
        problems.append("endAt must be after startAt")
    if content.trigger_event is not None:
        problems += _text_problems("triggerEvent", content.trigger_event)
    if content.goal_event is not None:
        problems += _text_problems("goalEvent", content.goal_event)
    elif content.goal_where:
        problems.append("goalWhere filters the goal event's properties: give a goalEvent too")
    problems += _flow_problems(content, nodes_given)
    if content.audience is not None and content.audience_condition is not None:
        problems.append(
            "a segment journey's audience is a list or a condition, not both: clear the "
            "list (audience: null) to use audienceCondition"
        )
    if not 0 <= content.send_delay_seconds <= MAX_SEND_DELAY_SECONDS:
        problems.append(f"sendDelaySeconds must be between 0 and {MAX_SEND_DELAY_SECONDS}")
    if problems:
        raise ValidationFailed("; ".join(problems))
    return content


def _flow_problems(content: Content, nodes_given: bool) -> list[str]:
    if not content.nodes:
        return []  # no flow yet: a draft's (it stops activation)
    steps = content.steps
    if steps is not None and not nodes_given:
        return step_problems(steps)
    return flow_problems(content.nodes)


def _text_problems(field: str, value: str) -> list[str]:
    problem = text_problem(field, value, MAX_TEXT_LENGTH)
    return [problem] if problem else []


def checked_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("name must not be empty")
    problem = text_problem("name", name, MAX_NAME_LENGTH)
    if problem:
        raise ValidationFailed(problem)
    return name


def checked_labels(labels: list[str]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(label.strip() for label in labels))
    if len(cleaned) > MAX_LABELS:
        raise ValidationFailed(f"a journey has at most {MAX_LABELS} labels")
    for label in cleaned:
        if not label or len(label) > MAX_LABEL_LENGTH:
            raise ValidationFailed(f"a label has 1 to {MAX_LABEL_LENGTH} characters")
        problem = text_problem(f"label {label!r}", label, MAX_LABEL_LENGTH)
        if problem:
            raise ValidationFailed(problem)
    return cleaned


def checked_reason(reason: str | None) -> str | None:
    """A reason given with a status change, trimmed (None when blank), or ValidationFailed:
    it is kept in the status log for good and shown on every history."""
    if reason is None or not reason.strip():
        return None
    reason = reason.strip()
    problem = text_problem("reason", reason, MAX_REASON_LENGTH)
    if problem:
        raise ValidationFailed(problem)
    return reason


def readiness_problems(kind: JourneyKind, content: Content) -> list[str]:
    """What stops this content from going live (dates aside: see timing)."""
    problems = []
    if not content.nodes:
        problems.append("the journey needs at least one step")
    # Only a straight line of steps may hold an incomplete one (any other flow is held
    # to every rule of a flow when saved), and a line's node n is its step n: each
    # node is asked without first proving the flow a line, which a read of many
    # journeys would pay for each one.
    for index, node in enumerate(content.nodes, start=1):
        step = step_of(node)
        why = step.incompleteness() if step else None
        if why:
            problems.append(f"step {index}: {why}")
    if kind is JourneyKind.EVENT_TRIGGERED and not content.trigger_event:
        problems.append("an event-triggered journey needs a trigger event")
    has_list = bool(content.audience and content.audience.size)
    if kind is JourneyKind.SEGMENT_SCHEDULED and not (has_list or content.audience_condition):
        problems.append(
            "a segment journey needs a non-empty audience list or an audience condition"
        )
    if kind is JourneyKind.EVENT_TRIGGERED and content.audience_condition is not None:
        problems.append("only a segment journey has an audience condition")
    if kind is JourneyKind.SEGMENT_SCHEDULED and content.trigger_where:
        problems.append("only an event-triggered journey has a triggerWhere")
    return problems
