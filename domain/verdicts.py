"""Whether an action may be taken on a journey now, and the status it leads to: the
rules `Journey.take` and `Journey.available_actions` apply (docs/rules.md).

A verdict names the status an action leads to, or says why it may not be taken: the
caller's role may never take it (forbidden), or the journey's status, content or dates
refuse it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from domain.actions import ACTION_AUTHORITY, Action, Role, may_take
from domain.content import Content, JourneyKind, readiness_problems
from domain.statuses import Status
from domain.timing import running_status
from domain.transitions import APPLIES_LATEST_VERSION, Computed, target_of

if TYPE_CHECKING:
    from domain.journey import Journey


@dataclass(frozen=True)
class Verdict:
    target: Status | None = None
    refusal: str | None = None
    forbidden: bool = False


def judge(journey: Journey, action: Action, role: Role, now: datetime) -> Verdict:
    """What taking `action` on the journey now, with this role, would do."""
    if not may_take(role, action):
        return Verdict(refusal=_forbidden_message(action, role), forbidden=True)
    target = target_of(journey.status, action)
    if target is None:
        return Verdict(refusal=f"{action} is not allowed from {journey.status}")
    content = journey.latest.content
    if action is Action.ACTIVATE:
        problems = readiness_problems(journey.kind, content) + date_problems(content, now)
        if problems:
            return Verdict(refusal="cannot activate: " + "; ".join(problems))
    if action is Action.REACTIVATE:
        problems = readiness_problems(journey.kind, content)
        if problems:
            return Verdict(refusal="cannot reactivate: " + "; ".join(problems))
    if action in (Action.START, Action.END) and journey.due_action(now) is not action:
        return Verdict(refusal=f"{action} is not due yet")
    if action is Action.AUDIENCE_LOADED and journey.kind is not JourneyKind.SEGMENT_SCHEDULED:
        return Verdict(refusal="only a segment journey loads an audience")
    status = _resolved(journey, target, action, now)
    if action is Action.REACTIVATE and journey.status is Status.CLOSED and status is Status.CLOSED:
        why = (
            "its audience has fully entered"
            if journey.audience_fully_entered
            else "its end date has passed; set a later end date first"
        )
        return Verdict(refusal=f"reactivating would leave it CLOSED: {why}")
    return Verdict(target=status)


def _resolved(journey: Journey, target: Status | Computed, action: Action, now: datetime) -> Status:
    """The status a transition's target names, computed from the journey when it is not
    a fixed one."""
    if isinstance(target, Status):
        return target
    if target is Computed.STATUS_BEFORE_ERROR:
        before = journey.status_before_error or Status.ACTIVE
        if before not in (Status.SCHEDULED, Status.ACTIVE):
            return before
    content = journey.latest.content if action in APPLIES_LATEST_VERSION else None
    start_at = content.start_at if content else journey.start_at
    end_at = content.end_at if content else journey.end_at
    return running_status(start_at, end_at, journey.audience_fully_entered, now)


def date_problems(content: Content, now: datetime) -> list[str]:
    if content.end_at is not None and content.end_at <= now:
        return ["the end date must be in the future"]
    return []


def _forbidden_message(action: Action, role: Role) -> str:
    allowed = ACTION_AUTHORITY[action]
    if allowed == {Role.SYSTEM}:
        return f"{action} is taken by the system only, at the right moment"
    people = " or ".join(r.value for r in Role if r in allowed and r is not Role.SYSTEM)
    return f"{action} needs an {people} token; yours is a {role.value} token"
