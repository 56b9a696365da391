"""Refusals the rules can give. Each carries the code the API shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class DomainError(Exception):
    """A request our rules refuse. Nothing has been changed when it is raised."""

    code: ClassVar[str] = "VALIDATION_FAILED"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, object]:
        """Extra facts for the client beside the code and the message."""
        return {}


class ValidationFailed(DomainError):
    code = "VALIDATION_FAILED"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class RevisionConflict(DomainError):
    code = "REVISION_CONFLICT"

    def __init__(self, message: str, current_revision: int) -> None:
        super().__init__(message)
        self.current_revision = current_revision

    def details(self) -> dict[str, object]:
        return {"currentRevision": self.current_revision}


class ConcurrentChange(DomainError):
    """Rows the call writes kept being changed by other transactions while it ran; it
    wrote nothing and may simply be sent again."""

    code = "CONCURRENT_CHANGE"


class TransitionNotAllowed(DomainError):
    """An action or an edit the current status does not allow, or a guard that refuses."""

    code = "TRANSITION_NOT_ALLOWED"

    def __init__(self, message: str, status: str, allowed_actions: Sequence[str]) -> None:
        super().__init__(message)
        self.status = status
        self.allowed_actions = list(allowed_actions)

    def details(self) -> dict[str, object]:
        return {
            "status": self.status,
            "allowedActions": self.allowed_actions,
            "reason": self.message,
        }


class ReplayUnavailable(DomainError):
    """A read of the status log after a sequence that retention has already removed."""

    code = "REPLAY_UNAVAILABLE"

    def __init__(self, message: str, pruned_through: int) -> None:
        super().__init__(message)
        self.pruned_through = pruned_through

    def details(self) -> dict[str, object]:
        # The lowest `after` the log can still answer without a gap.
        return {"prunedThrough": self.pruned_through}
