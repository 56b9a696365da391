"""Who may enter a journey, and why not (docs/rules.md, "Customers").

Derived from the status table: the status says whether anyone may enter, and
the journey's dates open or shut its window; an event-triggered journey
answers its events in every status but its first and its last. A customer
who does not enter is given a reason; nobody is refused silently.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from domain.statuses import INITIAL_STATUS, Status, exits_customers, traits
from domain.timing import window_is_open

MAX_ENROLL_BATCH = 10_000
MAX_EVENT_BATCH = 1_000


class Refusal(StrEnum):
    """Why a customer did not enter a journey. Nobody is refused silently."""

    NOT_ADMITTING = "NOT_ADMITTING"  # the status admits nobody
    OUTSIDE_WINDOW = "OUTSIDE_WINDOW"  # the status admits, the start/end window does not
    ALREADY_IN_JOURNEY = "ALREADY_IN_JOURNEY"  # at most once at a time
    ALREADY_ENTERED = "ALREADY_ENTERED"  # re-entry NEVER, and it has been in the journey
    INVALID_ID = "INVALID_ID"  # empty, too long, or with control characters


def admission_refusal(
    status: Status, start_at: datetime | None, end_at: datetime | None, now: datetime
) -> Refusal | None:
    """Why nobody may enter a journey now, or None when it admits."""
    if not traits(status).admits_new_audience:
        return Refusal.NOT_ADMITTING
    if not window_is_open(start_at, end_at, now):
        return Refusal.OUTSIDE_WINDOW
    return None


def listens_for_events(status: Status) -> bool:
    """Whether an event-triggered journey answers its events (by admitting, or by
    saying why not): every status but the one a journey is designed in and the
    terminal one. A draft is not listening yet; an aborted journey never again."""
    return status is not INITIAL_STATUS and not exits_customers(status)
