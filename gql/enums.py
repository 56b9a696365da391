"""The domain's enums, registered with GraphQL under their schema names."""

from __future__ import annotations

from enum import Enum

import strawberry

from domain.actions import Action, ActorKind, Role
from domain.content import JourneyKind, StepType
from domain.email import EmailSecurity
from domain.events import Change
from domain.flow import Reentry
from domain.statuses import Status

strawberry.enum(Status, name="JourneyStatus")
strawberry.enum(Action, name="JourneyAction")
strawberry.enum(JourneyKind, name="JourneyKind")
strawberry.enum(StepType, name="StepType")
strawberry.enum(ActorKind, name="ActorKind")
strawberry.enum(Change, name="JourneyChangeKind")
strawberry.enum(Reentry, name="ReentryRule")
strawberry.enum(
    EmailSecurity,
    name="EmailSecurity",
    description="How the email channel's SMTP connection is secured: NONE (plain, for a "
    "relay on a trusted network), STARTTLS (upgraded before anything is sent, usually port "
    "587) or TLS (from the first byte, usually port 465).",
)


@strawberry.enum(name="Role")
class ViewerRole(Enum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @classmethod
    def of(cls, role: Role) -> ViewerRole:
        return cls(role.value)
