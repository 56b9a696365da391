"""What a journey does: its steps, audience, trigger and dates, and their rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from domain.channels import CHANNELS
from domain.conditions import AttributeCondition, Condition
from domain.errors import ValidationFailed
from domain.text import text_problem

MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 200
MAX_LABELS = 20
MAX_LABEL_LENGTH = 50
MAX_REASON_LENGTH = 500
MAX_STEPS = 100
MAX_WAIT_SECONDS = 366 * 24 * 3600
# A recall window longer than a week would hold messages past any campaign's point.
MAX_SEND_DELAY_SECONDS = 7 * 24 * 3600


class JourneyKind(StrEnum):
    EVENT_TRIGGERED = "EVENT_TRIGGERED"
    SEGMENT_SCHEDULED = "SEGMENT_SCHEDULED"


class StepType(StrEnum):
    WAIT = "WAIT"
    SEND = "SEND"


@dataclass(frozen=True)
class Step:
    type: StepType
    seconds: int | None = None
    channel: str | None = None
    template: str | None = None

    def incompleteness(self) -> str | None:
        """Why this step cannot run yet, or None when it can."""
        if self.type is StepType.WAIT and self.seconds is None:
            return "a WAIT step needs seconds"
        if self.type is StepType.SEND and not (self.channel and self.template):
            return "a SEND step needs a channel and a template"
        return None


@dataclass(frozen=True)
class AudienceList:
    """A segment journey's customers: a list kept as its own rows, written once (by
    an upload or from inline ids) and never changed, so versions and copies may
    share it. A version refers to it; its ids are never copied into content."""

    id: str
    size: int


@dataclass(frozen=True)
class Content:
    """One version's worth of content. Dates are timezone-aware (UTC)."""

    steps: tuple[Step, ...] = ()
    start_at: datetime | None = None
    end_at: datetime | None = None
    trigger_event: str | None = None
    audience: AudienceList | None = None
    # How long a queued message stays recallable before it is handed over.
    send_delay_seconds: int = 0
    # A segment journey's audience by condition: the profiles that match when the
    # load reaches them (instead of a list).
    audience_condition: Condition | None = None
    # An event-triggered journey admits only for a trigger whose properties meet these.
    trigger_where: tuple[AttributeCondition, ...] = ()


CONTENT_FIELDS = (
    "steps",
    "start_at",
    "end_at",
    "trigger_event",
    "audience",
    "send_delay_seconds",
    "audience_condition",
    "trigger_where",
)


def revise(content: Content, changes: Mapping[str, object]) -> Content:
    """The content with `changes` applied; a field absent from `changes` is unchanged."""
    unknown = set(changes) - set(CONTENT_FIELDS)
    if unknown:
        raise ValueError(f"not content fields: {sorted(unknown)}")
    return normalized(replace(content, **changes))  # type: ignore[arg-type]


def normalized(content: Content) -> Content:
    """The content, or ValidationFailed naming every value our rules never accept."""
    problems: list[str] = []
    for field, value in (("startAt", content.start_at), ("endAt", content.end_at)):
        if value is not None and value.utcoffset() is None:
            problems.append(f"{field} must carry a UTC offset, e.g. 2026-12-01T09:00:00Z")
    if not problems and content.start_at and content.end_at and content.end_at <= content.start_at:
        problems.append("endAt must be after startAt")
    if content.trigger_event is not None:
        problems += _text_problems("triggerEvent", content.trigger_event)
    if len(content.steps) > MAX_STEPS:
        problems.append(f"a journey has at most {MAX_STEPS} steps")
    for index, step in enumerate(content.steps, start=1):
        problems += _step_problems(index, step)
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


def _step_problems(index: int, step: Step) -> list[str]:
    problems = []
    where = f"step {index} ({step.type})"
    if step.seconds is not None and not 1 <= step.seconds <= MAX_WAIT_SECONDS:
        problems.append(f"{where}: seconds must be between 1 and {MAX_WAIT_SECONDS}")
    if step.type is StepType.WAIT and (step.channel or step.template):
        problems.append(f"{where}: a WAIT step takes no channel or template")
    if step.type is StepType.SEND and step.seconds is not None:
        problems.append(f"{where}: a SEND step takes no seconds")
    if step.channel is not None and step.channel not in CHANNELS:
        problems.append(f"{where}: unknown channel {step.channel!r} (known: {', '.join(CHANNELS)})")
    if step.template is not None:
        problems += _text_problems(f"{where}: template", step.template)
    return problems


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
    if not content.steps:
        problems.append("the journey needs at least one step")
    for index, step in enumerate(content.steps, start=1):
        why = step.incompleteness()
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
