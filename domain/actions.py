"""Who may do what: actions, roles, and the hand each action needs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import Forbidden


class Action(StrEnum):
    ACTIVATE = "ACTIVATE"
    START = "START"
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    FREEZE = "FREEZE"
    CLOSE = "CLOSE"
    END = "END"
    AUDIENCE_LOADED = "AUDIENCE_LOADED"
    REACTIVATE = "REACTIVATE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    RECOVER = "RECOVER"


class Role(StrEnum):
    """A caller's authority. SYSTEM is the service's own hand (jobs), never a token."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
    SYSTEM = "system"


_EDITORS = frozenset({Role.EDITOR, Role.ADMIN})
_SYSTEM_OR_ADMIN = frozenset({Role.ADMIN, Role.SYSTEM})
_SYSTEM_ONLY = frozenset({Role.SYSTEM})

ACTION_AUTHORITY: dict[Action, frozenset[Role]] = {
    Action.ACTIVATE: _EDITORS,
    Action.PAUSE: _EDITORS,
    Action.RESUME: _EDITORS,
    Action.FREEZE: _EDITORS,
    Action.CLOSE: _EDITORS,
    Action.REACTIVATE: _EDITORS,
    Action.ABORT: _EDITORS,
    Action.FAIL: _SYSTEM_OR_ADMIN,
    Action.RECOVER: _SYSTEM_OR_ADMIN,
    Action.START: _SYSTEM_ONLY,
    Action.END: _SYSTEM_ONLY,
    Action.AUDIENCE_LOADED: _SYSTEM_ONLY,
}

# Everything a person can take from the API, in the order a UI shows buttons.
CALLER_ACTIONS: tuple[Action, ...] = (
    Action.ACTIVATE,
    Action.PAUSE,
    Action.RESUME,
    Action.FREEZE,
    Action.CLOSE,
    Action.REACTIVATE,
    Action.ABORT,
    Action.FAIL,
    Action.RECOVER,
)


def may_take(role: Role, action: Action) -> bool:
    return role in ACTION_AUTHORITY[action]


def may_write(role: Role) -> bool:
    """Create, edit, copy, delete, rename, label, enrol customers: editors and admins."""
    return role in _EDITORS


def require_write(actor: Actor) -> None:
    if not may_write(actor.role):
        raise Forbidden(
            f"a {actor.role.value} token can only read; an editor or admin token is needed"
        )


class ActorKind(StrEnum):
    USER = "USER"
    SYSTEM = "SYSTEM"


@dataclass(frozen=True)
class ActorName:
    """Who acted, as the status log keeps it: a token's name or the system. The
    role is the authority to act, checked when acting; the log does not keep it."""

    kind: ActorKind
    name: str


@dataclass(frozen=True)
class Actor:
    """Who takes an action: a token (by its name and role) or the system."""

    kind: ActorKind
    name: str
    role: Role

    @property
    def named(self) -> ActorName:
        return ActorName(self.kind, self.name)

    @classmethod
    def user(cls, name: str, role: Role) -> Actor:
        return cls(ActorKind.USER, name, role)

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorKind.SYSTEM, "system", Role.SYSTEM)
