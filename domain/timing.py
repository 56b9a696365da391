"""Time rules: the intake window, the running status, and what falls due when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.actions import Action
from domain.statuses import Status


def window_is_open(start_at: datetime | None, end_at: datetime | None, now: datetime) -> bool:
    started = start_at is None or start_at <= now
    ended = end_at is not None and end_at <= now
    return started and not ended


def running_status(
    start_at: datetime | None,
    end_at: datetime | None,
    audience_fully_entered: bool,
    now: datetime,
) -> Status:
    """Where a journey that runs again belongs right now, computed, never assumed."""
    if start_at is not None and now < start_at:
        return Status.SCHEDULED
    if (end_at is not None and end_at <= now) or audience_fully_entered:
        return Status.CLOSED
    return Status.ACTIVE


@dataclass(frozen=True)
class TimedAction:
    """The system action a status waits for, and the journey date it waits for."""

    action: Action
    date_field: str  # "start_at" or "end_at"
    due_without_date: bool  # with no date: due at once (START) or never (END)


# Which statuses wait for a date. The store derives its due-time queries
# from this table, so the rule lives here only.
TIMED_ACTIONS: dict[Status, TimedAction] = {
    Status.SCHEDULED: TimedAction(Action.START, "start_at", due_without_date=True),
    Status.ACTIVE: TimedAction(Action.END, "end_at", due_without_date=False),
}


def timed_date(
    action: Action, start_at: datetime | None, end_at: datetime | None
) -> datetime | None:
    """The journey date a timed action (START, END) is due at; None for another action."""
    for timed in TIMED_ACTIONS.values():
        if timed.action is action:
            return start_at if timed.date_field == "start_at" else end_at
    return None


def next_timed_action(
    status: Status, start_at: datetime | None, end_at: datetime | None
) -> tuple[Action, datetime | None] | None:
    """The system action this journey waits for and its date (None: due at once)."""
    timed = TIMED_ACTIONS.get(status)
    if timed is None:
        return None
    date = timed_date(timed.action, start_at, end_at)
    if date is None and not timed.due_without_date:
        return None
    return timed.action, date


def due_action(
    status: Status, start_at: datetime | None, end_at: datetime | None, now: datetime
) -> Action | None:
    """The timed action to apply now, or None when nothing is due."""
    planned = next_timed_action(status, start_at, end_at)
    if planned is None:
        return None
    action, due_at = planned
    return action if due_at is None or due_at <= now else None
