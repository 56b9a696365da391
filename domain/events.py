"""What a journey records when its status changes, and the signal of its other changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from domain.actions import Action, ActorName
from domain.statuses import Status


@dataclass(frozen=True)
class StatusChanged:
    journey_id: str
    previous_status: Status
    status: Status
    action: Action
    actor: ActorName
    reason: str | None
    version: int | None
    at: datetime
    # The live version before the change, when the change made another one live
    # (REACTIVATE onto pending edits): what its customers move from. Not logged.
    previous_version: int | None = field(default=None, compare=False)

    @property
    def changes_version(self) -> bool:
        """The change moved the customers inside onto another version of the flow."""
        return self.previous_version is not None and self.previous_version != self.version


@dataclass(frozen=True)
class LoggedStatusChange:
    """A status change as the log keeps it: with its workspace-wide sequence number."""

    sequence: int
    workspace_id: str
    change: StatusChanged


class Change(Enum):
    """What happened to a journey, besides a status change (which the log keeps)."""

    CREATED = "CREATED"  # created or copied
    UPDATED = "UPDATED"  # content, name, labels or version; a new revision
    DELETED = "DELETED"


@dataclass(frozen=True)
class JourneyChanged:
    """A journey written by a commit that logged no status change for it.

    Not logged: a signal that the journey's row is newer than a reader may
    have it, for pages to re-read it. The database holds the journey itself.
    """

    workspace_id: str
    journey_id: str
    revision: int  # after the change; a deleted journey's last
    what: Change


WorkspaceEvent = LoggedStatusChange | JourneyChanged
"""What a workspace's live subscriptions hear: its logged status changes, in
sequence order, and its journey changes, as they are announced."""


def moves_status_counts(event: WorkspaceEvent) -> bool:
    """Whether the event may change how many journeys are in each status: a status
    change, a journey created or deleted; an edit (a new name...) does not."""
    return isinstance(event, LoggedStatusChange) or event.what is not Change.UPDATED
