"""docs/rules.md as the tests read it: who may take each action, and the
transition table. Written out from the spec, not read from `domain/`, so a
wrong row in the domain's tables fails a test."""

from __future__ import annotations

from domain.actions import Action, Role
from domain.statuses import Status
from domain.transitions import Computed

S = Status
A = Action

PEOPLE = frozenset({Role.EDITOR, Role.ADMIN})
ADMIN_OR_SYSTEM = frozenset({Role.ADMIN, Role.SYSTEM})
SYSTEM_ONLY = frozenset({Role.SYSTEM})

AUTHORITY: dict[Action, frozenset[Role]] = {
    A.ACTIVATE: PEOPLE,
    A.PAUSE: PEOPLE,
    A.RESUME: PEOPLE,
    A.FREEZE: PEOPLE,
    A.CLOSE: PEOPLE,
    A.REACTIVATE: PEOPLE,
    A.ABORT: PEOPLE,
    A.FAIL: ADMIN_OR_SYSTEM,
    A.RECOVER: ADMIN_OR_SYSTEM,
    A.START: SYSTEM_ONLY,
    A.END: SYSTEM_ONLY,
    A.AUDIENCE_LOADED: SYSTEM_ONLY,
}

# The actions a caller can take from the API (people's, then the admin-only FAIL
# and RECOVER), in the order the spec lists them and a UI shows its buttons.
CALLER_ACTIONS: tuple[Action, ...] = (
    A.ACTIVATE,
    A.PAUSE,
    A.RESUME,
    A.FREEZE,
    A.CLOSE,
    A.REACTIVATE,
    A.ABORT,
    A.FAIL,
    A.RECOVER,
)

FAILABLE = (S.SCHEDULED, S.ACTIVE, S.PAUSED, S.CLOSED, S.FROZEN)
ABORTABLE = (*FAILABLE, S.ERROR)
RUNNING = Computed.RUNNING_STATUS
BEFORE_ERROR = Computed.STATUS_BEFORE_ERROR

TRANSITION_TABLE: dict[tuple[Status, Action], Status | Computed] = {
    (S.DESIGNING, A.ACTIVATE): RUNNING,
    (S.SCHEDULED, A.START): S.ACTIVE,
    (S.SCHEDULED, A.FREEZE): S.FROZEN,
    (S.ACTIVE, A.PAUSE): S.PAUSED,
    (S.ACTIVE, A.FREEZE): S.FROZEN,
    (S.ACTIVE, A.CLOSE): S.CLOSED,
    (S.ACTIVE, A.END): S.CLOSED,
    (S.ACTIVE, A.AUDIENCE_LOADED): S.CLOSED,
    (S.PAUSED, A.RESUME): RUNNING,
    (S.PAUSED, A.FREEZE): S.FROZEN,
    (S.PAUSED, A.REACTIVATE): RUNNING,
    (S.FROZEN, A.REACTIVATE): RUNNING,
    (S.CLOSED, A.REACTIVATE): RUNNING,
    (S.CLOSED, A.FREEZE): S.FROZEN,
    (S.ERROR, A.RECOVER): BEFORE_ERROR,
    **{(s, A.FAIL): S.ERROR for s in FAILABLE},
    **{(s, A.ABORT): S.ABORTED for s in ABORTABLE},
}
