"""Between rows and domain objects, in both directions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

from sqlalchemy import Row

from domain.actions import Action, ActorKind, ActorName
from domain.condition_json import (
    condition_from_json,
    condition_to_json,
    where_from_json,
    where_to_json,
)
from domain.content import AudienceList, Content, JourneyKind, Step, StepType
from domain.events import LoggedStatusChange, StatusChanged
from domain.flow import Node, NodeType, Reentry, SplitBranch
from domain.journey import Journey, Version
from domain.statuses import Status
from store.tables import STATS

# A row of any shape, read by column name.
AnyRow: TypeAlias = Row[*tuple[Any, ...]]


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


def node_to_json(node: Node) -> dict[str, Any]:
    """A node as stored: its fields that are set, under the API's names."""
    data: dict[str, Any] = {"key": node.key, "type": node.type.value}
    for name, value in _scalar_fields(node):
        if value is not None:
            data[name] = value
    if node.where:
        data["where"] = where_to_json(node.where)
    if node.condition is not None:
        data["condition"] = condition_to_json(node.condition)
    if node.branches:
        data["branches"] = [_branch_to_json(branch) for branch in node.branches]
    return data


def _scalar_fields(node: Node) -> tuple[tuple[str, str | int | None], ...]:
    return (
        ("next", node.next),
        ("seconds", node.seconds),
        ("channel", node.channel),
        ("template", node.template),
        ("subject", node.subject),
        ("body", node.body),
        ("event", node.event),
        ("timeoutSeconds", node.timeout_seconds),
        ("onTimeout", node.on_timeout),
        ("yes", node.yes),
        ("no", node.no),
    )


def _branch_to_json(branch: SplitBranch) -> dict[str, Any]:
    data: dict[str, Any] = {"key": branch.key, "percent": branch.percent}
    if branch.next is not None:
        data["next"] = branch.next
    return data


def node_from_json(data: dict[str, Any]) -> Node:
    place = f"node {data['key']!r}"
    return Node(
        key=data["key"],
        type=NodeType(data["type"]),
        next=data.get("next"),
        seconds=data.get("seconds"),
        channel=data.get("channel"),
        template=data.get("template"),
        subject=data.get("subject"),
        body=data.get("body"),
        event=data.get("event"),
        where=where_from_json(data["where"], f"{place} where") if "where" in data else (),
        timeout_seconds=data.get("timeoutSeconds"),
        on_timeout=data.get("onTimeout"),
        condition=condition_from_json(data["condition"], f"{place} condition")
        if "condition" in data
        else None,
        yes=data.get("yes"),
        no=data.get("no"),
        branches=tuple(
            SplitBranch(branch["key"], branch["percent"], branch.get("next"))
            for branch in data.get("branches", ())
        ),
    )


def version_values(journey_id: str, version: Version) -> dict[str, Any]:
    """The journey_versions-table columns of a version."""
    content = version.content
    return {
        "journey_id": journey_id,
        "number": version.number,
        "nodes": [node_to_json(node) for node in content.nodes],
        "steps": [step_to_json(step) for step in content.steps or ()],
        "start_at": content.start_at,
        "end_at": content.end_at,
        "trigger_event": content.trigger_event,
        "audience_list": content.audience.id if content.audience else None,
        "audience_size": content.audience.size if content.audience else 0,
        "send_delay_seconds": content.send_delay_seconds,
        "audience_condition": condition_to_json(content.audience_condition)
        if content.audience_condition
        else None,
        "trigger_where": where_to_json(content.trigger_where) if content.trigger_where else None,
        "goal_event": content.goal_event,
        "goal_where": where_to_json(content.goal_where) if content.goal_where else None,
        "reentry": content.reentry.value,
        "wait_events": content.flow.wait_events or None,
        "created_at": version.created_at,
        "created_by": version.created_by,
    }


def version_from_row(row: AnyRow) -> Version:
    """A version from a row of journey_versions, or the `version_*` columns of a journey read."""
    content = Content(
        nodes=tuple(node_from_json(node) for node in row.nodes),
        start_at=row.version_start_at,
        end_at=row.version_end_at,
        trigger_event=row.version_trigger_event,
        audience=AudienceList(row.audience_list, row.audience_size) if row.audience_list else None,
        send_delay_seconds=row.version_send_delay_seconds,
        audience_condition=condition_from_json(row.audience_condition)
        if row.audience_condition
        else None,
        trigger_where=where_from_json(row.trigger_where, "triggerWhere")
        if row.trigger_where
        else (),
        goal_event=row.goal_event,
        goal_where=where_from_json(row.goal_where, "goalWhere") if row.goal_where else (),
        reentry=Reentry(row.reentry),
    )
    return Version(row.number, content, row.version_created_at, row.created_by)


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
        "send_delay_seconds": journey.send_delay_seconds,
        "status_before_error": journey.status_before_error and journey.status_before_error.value,
        "error_reason": journey.error_reason,
        "audience_fully_entered": journey.audience_fully_entered,
        "copied_from_id": journey.copied_from_id,
        "created_at": journey.created_at,
        "updated_at": journey.updated_at,
        "status_changed_at": journey.status_changed_at,
    }


def journey_from_row(row: AnyRow) -> Journey:
    """A journey from a row of `store.journey_rows.JOURNEY_COLUMNS`."""
    return Journey(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        kind=JourneyKind(row.kind),
        status=Status(row.status),
        revision=row.revision,
        latest=version_from_row(row),
        live_version=row.live_version,
        start_at=row.start_at,
        end_at=row.end_at,
        trigger_event=row.trigger_event,
        send_delay_seconds=row.send_delay_seconds,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status_changed_at=row.status_changed_at,
        status_before_error=Status(row.status_before_error) if row.status_before_error else None,
        error_reason=row.error_reason,
        audience_fully_entered=bool(row.audience_fully_entered),
        copied_from_id=row.copied_from_id,
        labels=tuple(sorted(_labels(row.labels))),
    )


def _labels(found: Iterable[str] | None) -> Iterable[str]:
    return found or ()


def event_values(workspace_id: str, sequence: int, change: StatusChanged) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "sequence": sequence,
        "journey_id": change.journey_id,
        "previous_status": change.previous_status.value,
        "status": change.status.value,
        "action": change.action.value,
        "actor_kind": change.actor.kind.value,
        "actor_name": change.actor.name,
        "reason": change.reason,
        "version": change.version,
        "at": change.at,
    }


def event_from_row(row: AnyRow) -> LoggedStatusChange:
    change = StatusChanged(
        journey_id=row.journey_id,
        previous_status=Status(row.previous_status),
        status=Status(row.status),
        action=Action(row.action),
        actor=ActorName(ActorKind(row.actor_kind), row.actor_name),
        reason=row.reason,
        version=row.version,
        at=row.at,
    )
    return LoggedStatusChange(row.sequence, row.workspace_id, change)


def zero_stats(journey_id: str) -> dict[str, Any]:
    """A new journey's counters row: every counter of the table at 0."""
    return {column.name: 0 for column in STATS.c} | {"journey_id": journey_id}
