"""The journey aggregate: one journey's status, versions and the events it records.

Commands on a journey either raise a DomainError and leave it untouched, or
change it, bump its revision and record what happened in `events` /
`new_versions` for the unit of work to persist. Whether an action may be taken
now, and the status it leads to, is `domain.verdicts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from domain.actions import (
    CALLER_ACTIONS,
    Action,
    Actor,
    Role,
    may_take,
    may_write,
    require_write,
)
from domain.audience import accepts_list_changes
from domain.content import (
    CONTENT_FIELDS,
    Content,
    JourneyKind,
    checked_labels,
    checked_name,
    checked_reason,
    normalized,
    readiness_problems,
    revise,
)
from domain.errors import (
    Forbidden,
    RevisionConflict,
    TransitionNotAllowed,
    ValidationFailed,
)
from domain.events import StatusChanged
from domain.statuses import INITIAL_STATUS, EditMode, Status, is_editable, traits
from domain.timing import due_action, window_is_open
from domain.transitions import APPLIES_LATEST_VERSION, target_of
from domain.verdicts import date_problems, judge


@dataclass(frozen=True)
class Version:
    number: int
    content: Content
    created_at: datetime
    created_by: str


_EDIT_HINTS = {
    Status.ACTIVE: "pause or freeze the journey first",
    Status.ERROR: "an admin must recover it first",
    Status.ABORTED: "an aborted journey can only be copied",
}


@dataclass
class Journey:
    id: str
    workspace_id: str
    name: str
    kind: JourneyKind
    status: Status
    revision: int
    latest: Version
    live_version: int | None
    # The content fields that rule right now: the live version's, or the
    # latest's while nothing is live.
    start_at: datetime | None
    end_at: datetime | None
    trigger_event: str | None
    created_at: datetime
    updated_at: datetime
    send_delay_seconds: int = 0
    status_changed_at: datetime | None = None
    status_before_error: Status | None = None
    error_reason: str | None = None
    audience_fully_entered: bool = False
    copied_from_id: str | None = None
    labels: tuple[str, ...] = ()
    events: list[StatusChanged] = field(default_factory=list, compare=False)
    new_versions: list[Version] = field(default_factory=list, compare=False)

    # -- creation ---------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        id: str,
        workspace_id: str,
        name: str,
        kind: JourneyKind,
        content: Content,
        author: Actor,
        now: datetime,
        labels: Iterable[str] = (),
        copied_from_id: str | None = None,
    ) -> Journey:
        require_write(author)
        first = Version(1, normalized(content), now, author.name)
        journey = cls(
            id=id,
            workspace_id=workspace_id,
            name=checked_name(name),
            kind=kind,
            status=INITIAL_STATUS,
            revision=1,
            latest=first,
            live_version=None,
            start_at=first.content.start_at,
            end_at=first.content.end_at,
            trigger_event=first.content.trigger_event,
            send_delay_seconds=first.content.send_delay_seconds,
            created_at=now,
            updated_at=now,
            copied_from_id=copied_from_id,
            labels=checked_labels(list(labels)),
        )
        journey.new_versions.append(first)
        return journey

    def copy(self, *, new_id: str, name: str | None, author: Actor, now: datetime) -> Journey:
        """A new DESIGNING journey with the latest content, from any status."""
        copy_name = name if name is not None else f"Copy of {self.name}"[:200]
        return Journey.create(
            id=new_id,
            workspace_id=self.workspace_id,
            name=copy_name,
            kind=self.kind,
            content=self.latest.content,
            author=author,
            now=now,
            labels=self.labels,
            copied_from_id=self.id,
        )

    # -- what holds right now ---------------------------------------------

    @property
    def processes_steps(self) -> bool:
        return traits(self.status).processes_steps

    def admits_new_audience(self, now: datetime) -> bool:
        return traits(self.status).admits_new_audience and window_is_open(
            self.start_at, self.end_at, now
        )

    @property
    def edit_mode(self) -> EditMode:
        return traits(self.status).edit_mode

    @property
    def has_unapplied_changes(self) -> bool:
        return self.live_version is not None and self.latest.number > self.live_version

    @property
    def can_be_deleted(self) -> bool:
        return self.status is Status.DESIGNING

    def may_be_edited_by(self, role: Role) -> bool:
        return may_write(role) and is_editable(self.status)

    def may_be_deleted_by(self, role: Role) -> bool:
        return may_write(role) and self.can_be_deleted

    def due_action(self, now: datetime) -> Action | None:
        return due_action(self.status, self.start_at, self.end_at, now)

    def available_actions(self, role: Role, now: datetime) -> list[Action]:
        """The actions this role may take now and that would succeed."""
        # The table lookups first: most actions have no transition from this
        # status, and `judge` (which checks them too) would spell out why.
        return [
            action
            for action in CALLER_ACTIONS
            if may_take(role, action)
            and target_of(self.status, action) is not None
            and judge(self, action, role, now).target is not None
        ]

    # -- commands ---------------------------------------------------------

    def check_revision(self, expected: int | None) -> None:
        if expected is not None and expected != self.revision:
            raise RevisionConflict(
                f"the journey changed since you read it (you expected revision {expected}, "
                f"it is at {self.revision}); reload it and try again",
                current_revision=self.revision,
            )

    def take(
        self, action: Action, actor: Actor, now: datetime, reason: str | None = None
    ) -> StatusChanged:
        verdict = judge(self, action, actor.role, now)
        if verdict.forbidden:
            raise Forbidden(verdict.refusal or "")
        if verdict.target is None:
            raise self._not_allowed(verdict.refusal or "", actor.role, now)
        reason = checked_reason(reason)
        previous = self.status
        previous_version = self.live_version
        if action in APPLIES_LATEST_VERSION:
            self._make_live(self.latest)
        if action is Action.FAIL:
            self.status_before_error = previous
            self.error_reason = reason or "marked as failed"
        elif action is Action.RECOVER:
            self.status_before_error = None
            self.error_reason = None
        elif action is Action.AUDIENCE_LOADED:
            self.audience_fully_entered = True
        self.status = verdict.target
        self.status_changed_at = now
        self._touch(now)
        event = StatusChanged(
            journey_id=self.id,
            previous_status=previous,
            status=self.status,
            action=action,
            actor=actor.named,
            reason=reason,
            version=self.live_version,
            at=now,
            previous_version=previous_version,
        )
        self.events.append(event)
        return event

    def take_due(self, now: datetime) -> list[StatusChanged]:
        """Apply every timed action due now, in order (a START whose END is also
        past is followed by that END), as the system."""
        taken = []
        while (action := self.due_action(now)) is not None:
            taken.append(self.take(action, Actor.system(), now))
        return taken

    def edit(self, changes: Mapping[str, object], actor: Actor, now: datetime) -> Version:
        """Save a new version of the content, as the status's edit mode says."""
        require_write(actor)
        mode = self.edit_mode
        if mode is EditMode.LOCKED:
            hint = _EDIT_HINTS.get(self.status, "")
            raise self._not_allowed(
                f"a {self.status} journey cannot be edited" + (f": {hint}" if hint else ""),
                actor.role,
                now,
            )
        latest = self.latest.content
        if any(
            changes.get(name, getattr(latest, name)) != getattr(latest, name)
            for name in ("audience", "audience_condition")
        ):
            self.check_list_may_change(actor, now)
        content = revise(self.latest.content, changes)
        if mode is EditMode.LIVE:
            problems = readiness_problems(self.kind, content) + date_problems(content, now)
            if problems:
                raise ValidationFailed(
                    "a scheduled journey's edits go live at once, so they must stay valid: "
                    + "; ".join(problems)
                )
        version = Version(self.latest.number + 1, content, now, actor.name)
        self.latest = version
        self.new_versions.append(version)
        if mode is EditMode.DRAFT:
            self._show(content)
        elif mode is EditMode.LIVE:
            self._make_live(version)
        self._touch(now)
        return version

    def restore(self, old: Version, actor: Actor, now: datetime) -> Version:
        """Save an old version's content again, as the newest version."""
        changes: dict[str, object] = {name: getattr(old.content, name) for name in CONTENT_FIELDS}
        steps = old.content.steps
        if steps is not None:
            # Given back as steps, a straight line keeps the leniency it was saved under
            # (a draft's incomplete step).
            del changes["nodes"]
            changes["steps"] = steps
        return self.edit(changes, actor, now)

    def check_takes_an_upload(self, actor: Actor, now: datetime) -> None:
        """An uploaded list is for a segment journey whose list may still change."""
        if self.kind is not JourneyKind.SEGMENT_SCHEDULED:
            raise ValidationFailed(
                "only a segment journey has an audience list; an event-triggered journey "
                "admits the customers of its trigger event"
            )
        self.check_list_may_change(actor, now)

    def check_list_may_change(self, actor: Actor, now: datetime) -> None:
        """The audience list may change only before the journey has run."""
        if not accepts_list_changes(self.status):
            raise self._not_allowed(
                f"the audience list of a {self.status} journey cannot change: it is fixed "
                "once the journey has run; copy the journey to send to another list",
                actor.role,
                now,
            )

    def rename(self, name: str, actor: Actor, now: datetime) -> None:
        require_write(actor)
        self.name = checked_name(name)
        self._touch(now)

    def set_labels(self, labels: list[str], actor: Actor, now: datetime) -> None:
        require_write(actor)
        self.labels = checked_labels(labels)
        self._touch(now)

    def check_deletable(self, actor: Actor, now: datetime) -> None:
        require_write(actor)
        if not self.can_be_deleted:
            raise self._not_allowed(
                f"a {self.status} journey cannot be deleted: only journeys still in "
                "DESIGNING can; abort it instead, and it stays in the history",
                actor.role,
                now,
            )

    # -- its own bookkeeping --------------------------------------------------

    def _not_allowed(self, message: str, role: Role, now: datetime) -> TransitionNotAllowed:
        return TransitionNotAllowed(message, self.status, self.available_actions(role, now))

    def _make_live(self, version: Version) -> None:
        self.live_version = version.number
        self._show(version.content)

    def _show(self, content: Content) -> None:
        self.start_at = content.start_at
        self.end_at = content.end_at
        self.trigger_event = content.trigger_event
        self.send_delay_seconds = content.send_delay_seconds

    def _touch(self, now: datetime) -> None:
        self.revision += 1
        self.updated_at = now


def replay(events: Iterable[StatusChanged]) -> Status:
    """The status a journey's event log leads to (DESIGNING when it is empty)."""
    status = INITIAL_STATUS
    for event in events:
        if event.previous_status is not status:
            raise ValueError(f"log gap: {event.previous_status} follows {status}")
        status = event.status
    return status
