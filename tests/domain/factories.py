"""Small builders for domain tests: fixed dates, actors, content, and journeys in
every status, built through the aggregate's own commands (time is an argument)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.actions import Action, Actor, Role
from domain.content import AudienceList, Content, JourneyKind, Step, StepType
from domain.journey import Journey
from domain.statuses import Status

EVENT = JourneyKind.EVENT_TRIGGERED
SEGMENT = JourneyKind.SEGMENT_SCHEDULED

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(*, minutes: int = 0, hours: int = 0, days: int = 0) -> datetime:
    """A moment relative to T0, the time every journey here is created at."""
    return T0 + timedelta(minutes=minutes, hours=hours, days=days)


# The default journey runs from START to END. It is activated at T0 (so it is
# SCHEDULED), started at START, and any further command on the way to a status
# is taken at STEP. Tests then act at NOW, inside the window, or at LATE, after it.
START = at(hours=1)
STEP = at(minutes=90)
NOW = at(hours=2)
END = at(days=10)
LATE = at(days=11)

VIEWER = Actor.user("vera", Role.VIEWER)
EDITOR = Actor.user("eddie", Role.EDITOR)
ADMIN = Actor.user("ada", Role.ADMIN)
SYSTEM = Actor.system()
ACTORS: dict[Role, Actor] = {
    Role.VIEWER: VIEWER,
    Role.EDITOR: EDITOR,
    Role.ADMIN: ADMIN,
    Role.SYSTEM: SYSTEM,
}

WAIT = Step(StepType.WAIT, seconds=60)
SEND = Step(StepType.SEND, channel="log", template="welcome")
READY_STEPS = (WAIT, SEND)
AUDIENCE = AudienceList("list-1", 3)


def ready_content(kind: JourneyKind = EVENT, **overrides: object) -> Content:
    """Content that may be activated at T0 (fields overridable by name)."""
    fields: dict[str, object] = {
        "start_at": START,
        "end_at": END,
        "trigger_event": "signup" if kind is EVENT else None,
        "audience": AUDIENCE if kind is SEGMENT else None,
    }
    if "nodes" not in overrides:
        fields["steps"] = READY_STEPS
    return Content(**{**fields, **overrides})  # type: ignore[arg-type]


def new_journey(
    kind: JourneyKind = EVENT,
    *,
    content: Content | None = None,
    name: str = "Welcome flow",
    labels: tuple[str, ...] = (),
    now: datetime = T0,
    journey_id: str = "j1",
) -> Journey:
    return Journey.create(
        id=journey_id,
        workspace_id="acme",
        name=name,
        kind=kind,
        content=content if content is not None else ready_content(kind),
        author=EDITOR,
        now=now,
        labels=labels,
    )


# How each status is reached from ACTIVE, and who does it.
_FROM_ACTIVE: dict[Status, tuple[Action, Actor]] = {
    Status.PAUSED: (Action.PAUSE, EDITOR),
    Status.CLOSED: (Action.CLOSE, EDITOR),
    Status.FROZEN: (Action.FREEZE, EDITOR),
    Status.ERROR: (Action.FAIL, ADMIN),
    Status.ABORTED: (Action.ABORT, EDITOR),
}


def journey_in(
    status: Status, kind: JourneyKind = EVENT, *, content: Content | None = None
) -> Journey:
    """A journey brought to `status` by its own commands (see the dates above).

    DESIGNING is fresh; SCHEDULED is activated at T0; ACTIVE is started at START;
    the rest are reached from ACTIVE at STEP.
    """
    journey = new_journey(kind, content=content)
    if status is Status.DESIGNING:
        return journey
    journey.take(Action.ACTIVATE, EDITOR, T0)
    if status is Status.SCHEDULED:
        assert journey.status is Status.SCHEDULED, "the content must start after T0"
        return journey
    if journey.status is Status.SCHEDULED:
        journey.take(Action.START, SYSTEM, journey.start_at or T0)
    assert journey.status is Status.ACTIVE
    if status is Status.ACTIVE:
        return journey
    action, actor = _FROM_ACTIVE[status]
    reason = "channel down" if action is Action.FAIL else None
    event = journey.take(action, actor, STEP, reason=reason)
    assert event.status is status
    return journey


def failed_from(status: Status, kind: JourneyKind = EVENT) -> Journey:
    """A journey in ERROR that left `status` (any failable one) at STEP."""
    journey = journey_in(status, kind)
    journey.take(Action.FAIL, ADMIN, STEP, reason="channel down")
    return journey


@dataclass
class Snapshot:
    """Everything about a journey, to check that a refused command changed nothing."""

    journey: Journey
    events: list[object]
    new_versions: list[object]


def snapshot(journey: Journey) -> Snapshot:
    frozen = copy.deepcopy(journey)
    return Snapshot(frozen, list(frozen.events), list(frozen.new_versions))


def assert_unchanged(journey: Journey, before: Snapshot) -> None:
    # `events` and `new_versions` are left out of the dataclass's ==.
    assert journey == before.journey
    assert journey.events == before.events
    assert journey.new_versions == before.new_versions
