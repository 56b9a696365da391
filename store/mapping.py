"""Between rows and domain objects, in both directions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.actions import Action, Actor, ActorKind, Role
from domain.content import Content, JourneyKind, Step, StepType
from domain.events import LoggedStatusChange, StatusChanged
from domain.journey import Journey, Version
from domain.statuses import Status
from store.tables import JourneyRow, JourneyVersionRow, StatusEventRow


def step_to_json(step: Step) -> dict[str, Any]:
    data: dict[str, Any] = {"type": step.type.value}
    for name in ("seconds", "channel", "template"):
        value = getattr(step, name)
        if value is not None:
            data[name] = value
    return data


def step_from_json(data: dict[str, Any]) -> Step:
    return Step(
        type=StepType(data["type"]),
        seconds=data.get("seconds"),
        channel=data.get("channel"),
        template=data.get("template"),
    )


def version_row(journey_id: str, version: Version) -> JourneyVersionRow:
    content = version.content
    return JourneyVersionRow(
        journey_id=journey_id,
        number=version.number,
        steps=[step_to_json(step) for step in content.steps],
        start_at=content.start_at,
        end_at=content.end_at,
        trigger_event=content.trigger_event,
        audience=list(content.audience),
        created_at=version.created_at,
        created_by=version.created_by,
    )


def version_from_row(row: JourneyVersionRow) -> Version:
    content = Content(
        steps=tuple(step_from_json(step) for step in row.steps),
        start_at=row.start_at,
        end_at=row.end_at,
        trigger_event=row.trigger_event,
        audience=tuple(row.audience),
    )
    return Version(row.number, content, row.created_at, row.created_by)


def journey_values(journey: Journey) -> dict[str, Any]:
    """The journeys-table columns of a journey (all but `pk`)."""
    return {
        "id": journey.id,
        "workspace_id": journey.workspace_id,
        "name": journey.name,
        "kind": journey.kind.value,
        "status": journey.status.value,
        "revision": journey.revision,
        "live_version": journey.live_version,
        "latest_version": journey.latest.number,
        "start_at": journey.start_at,
        "end_at": journey.end_at,
        "trigger_event": journey.trigger_event,
        "status_before_error": journey.status_before_error and journey.status_before_error.value,
        "error_reason": journey.error_reason,
        "audience_fully_entered": journey.audience_fully_entered,
        "copied_from_id": journey.copied_from_id,
        "created_at": journey.created_at,
        "updated_at": journey.updated_at,
        "status_changed_at": journey.status_changed_at,
    }


def journey_from_rows(row: JourneyRow, latest: JourneyVersionRow, labels: Iterable[str]) -> Journey:
    return Journey(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        kind=JourneyKind(row.kind),
        status=Status(row.status),
        revision=row.revision,
        latest=version_from_row(latest),
        live_version=row.live_version,
        start_at=row.start_at,
        end_at=row.end_at,
        trigger_event=row.trigger_event,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status_changed_at=row.status_changed_at,
        status_before_error=Status(row.status_before_error) if row.status_before_error else None,
        error_reason=row.error_reason,
        audience_fully_entered=row.audience_fully_entered,
        copied_from_id=row.copied_from_id,
        labels=tuple(sorted(labels)),
    )


def event_row(workspace_id: str, sequence: int, change: StatusChanged) -> StatusEventRow:
    return StatusEventRow(
        workspace_id=workspace_id,
        sequence=sequence,
        journey_id=change.journey_id,
        previous_status=change.previous_status.value,
        status=change.status.value,
        action=change.action.value,
        actor_kind=change.actor.kind.value,
        actor_name=change.actor.name,
        reason=change.reason,
        version=change.version,
        at=change.at,
    )


def event_from_row(row: StatusEventRow) -> LoggedStatusChange:
    kind = ActorKind(row.actor_kind)
    # The log keeps who acted, not their role at the time; SYSTEM is the only
    # role it can tell for sure.
    role = Role.SYSTEM if kind is ActorKind.SYSTEM else Role.EDITOR
    change = StatusChanged(
        journey_id=row.journey_id,
        previous_status=Status(row.previous_status),
        status=Status(row.status),
        action=Action(row.action),
        actor=Actor(kind, row.actor_name, role),
        reason=row.reason,
        version=row.version,
        at=row.at,
    )
    return LoggedStatusChange(row.sequence, row.workspace_id, change)
