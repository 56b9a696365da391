"""Which workspace events may move the status counts."""

from __future__ import annotations

from domain.actions import Action, ActorKind, ActorName
from domain.events import (
    Change,
    JourneyChanged,
    LoggedStatusChange,
    StatusChanged,
    moves_status_counts,
)
from domain.statuses import Status
from tests.domain.factories import T0


def test_status_changes_creations_and_deletions_move_the_counts_and_edits_do_not() -> None:
    changes = {what: JourneyChanged("acme", "j1", 2, what) for what in Change}
    editor = ActorName(ActorKind.USER, "eddie")
    status_changed = StatusChanged(
        "j1", Status.DESIGNING, Status.ACTIVE, Action.ACTIVATE, editor, None, 1, T0
    )
    assert moves_status_counts(LoggedStatusChange(1, "acme", status_changed))
    assert moves_status_counts(changes[Change.CREATED])
    assert moves_status_counts(changes[Change.DELETED])
    assert not moves_status_counts(changes[Change.UPDATED])
