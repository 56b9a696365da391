"""What a journey records when its status changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True)
class LoggedStatusChange:
    """A status change as the log keeps it: with its workspace-wide sequence number."""

    sequence: int
    workspace_id: str
    change: StatusChanged
