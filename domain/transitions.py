"""The transition table (docs/rules.md, "Who moves a journey"), as data."""

from __future__ import annotations

from enum import StrEnum

from domain.actions import Action
from domain.statuses import Status


class Computed(StrEnum):
    """A target that depends on the clock and the journey, not a fixed status."""

    RUNNING_STATUS = "RUNNING_STATUS"  # SCHEDULED, ACTIVE or CLOSED by the dates
    STATUS_BEFORE_ERROR = "STATUS_BEFORE_ERROR"  # re-evaluated against the dates


Target = Status | Computed

_FAILABLE = (Status.SCHEDULED, Status.ACTIVE, Status.PAUSED, Status.CLOSED, Status.FROZEN)
_ABORTABLE = tuple(s for s in Status if s not in (Status.DESIGNING, Status.ABORTED))

TRANSITIONS: dict[tuple[Status, Action], Target] = {
    (Status.DESIGNING, Action.ACTIVATE): Computed.RUNNING_STATUS,
    (Status.SCHEDULED, Action.START): Status.ACTIVE,
    (Status.SCHEDULED, Action.FREEZE): Status.FROZEN,
    (Status.ACTIVE, Action.PAUSE): Status.PAUSED,
    (Status.ACTIVE, Action.FREEZE): Status.FROZEN,
    (Status.ACTIVE, Action.CLOSE): Status.CLOSED,
    (Status.ACTIVE, Action.END): Status.CLOSED,
    (Status.ACTIVE, Action.AUDIENCE_LOADED): Status.CLOSED,
    (Status.PAUSED, Action.RESUME): Computed.RUNNING_STATUS,
    (Status.PAUSED, Action.FREEZE): Status.FROZEN,
    (Status.PAUSED, Action.REACTIVATE): Computed.RUNNING_STATUS,
    (Status.FROZEN, Action.REACTIVATE): Computed.RUNNING_STATUS,
    (Status.CLOSED, Action.REACTIVATE): Computed.RUNNING_STATUS,
    (Status.CLOSED, Action.FREEZE): Status.FROZEN,
    (Status.ERROR, Action.RECOVER): Computed.STATUS_BEFORE_ERROR,
    **{(status, Action.FAIL): Status.ERROR for status in _FAILABLE},
    **{(status, Action.ABORT): Status.ABORTED for status in _ABORTABLE},
}

# Actions that make the latest version live before the target is computed.
APPLIES_LATEST_VERSION = frozenset({Action.ACTIVATE, Action.REACTIVATE})


def target_of(status: Status, action: Action) -> Target | None:
    return TRANSITIONS.get((status, action))


def actions_from(status: Status) -> list[Action]:
    return [action for (source, action) in TRANSITIONS if source is status]
