"""The customer side of the status table: who may enter, and what happens to
those inside as a journey moves (docs/rules.md, "Customers").

Everything here is derived from `STATUS_TABLE`: the status says whether
customers may enter, whether those inside move on, and whether they are
exited; deliveries follow the customers (a queued message goes out only
while the journey processes, and is cancelled when its customers are
exited).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from domain.content import JourneyKind
from domain.errors import ValidationFailed
from domain.statuses import INITIAL_STATUS, CustomersInside, Status, traits
from domain.text import has_unreadable_characters
from domain.timing import window_is_open

MAX_CUSTOMER_ID_LENGTH = 200
MAX_ENROLL_BATCH = 10_000
MAX_EVENT_BATCH = 1_000
# An audience given inline in a mutation; a longer list is uploaded as a stream.
MAX_INLINE_AUDIENCE = 10_000


class Refusal(StrEnum):
    """Why a customer did not enter a journey. Nobody is refused silently."""

    NOT_ADMITTING = "NOT_ADMITTING"  # the status admits nobody
    OUTSIDE_WINDOW = "OUTSIDE_WINDOW"  # the status admits, the start/end window does not
    ALREADY_IN_JOURNEY = "ALREADY_IN_JOURNEY"  # at most once at a time
    INVALID_ID = "INVALID_ID"  # empty, too long, or with control characters


class ListRefusal(StrEnum):
    """Why a line of an uploaded audience list was not taken into the list."""

    INVALID_ID = "INVALID_ID"  # as for entry: empty, too long, control characters
    DUPLICATE = "DUPLICATE"  # the same id on an earlier line: a customer is listed once
    MALFORMED_LINE = "MALFORMED_LINE"  # a CSV line that cannot be read (quotes, columns)


def is_valid_customer_id(customer_id: str) -> bool:
    """1 to 200 characters, none of them a control, format or surrogate character
    (no NUL, no escape sequences, no invisible direction marks)."""
    if not customer_id or len(customer_id) > MAX_CUSTOMER_ID_LENGTH:
        return False
    if customer_id != customer_id.strip():
        return False
    return not has_unreadable_characters(customer_id)


def inline_audience(customer_ids: Sequence[str]) -> tuple[str, ...]:
    """An audience given inline: its ids in order, each once, or ValidationFailed."""
    if len(customer_ids) > MAX_INLINE_AUDIENCE:
        raise ValidationFailed(
            f"an inline audience has at most {MAX_INLINE_AUDIENCE} customers, not "
            f"{len(customer_ids)}; upload a longer list to POST /journeys/{{id}}/audience"
        )
    invalid = [c for c in customer_ids if not is_valid_customer_id(c)]
    if invalid:
        raise ValidationFailed(
            f"{len(invalid)} customer id(s) in audience are not valid (1 to "
            f"{MAX_CUSTOMER_ID_LENGTH} characters, no control characters), first {invalid[0]!r}"
        )
    return tuple(dict.fromkeys(customer_ids))


def accepts_list_changes(status: Status) -> bool:
    """A segment journey's list may change only while nobody can be inside yet: once
    it runs, the list has begun loading, and those already in came from it."""
    return traits(status).customers_inside is CustomersInside.NONE


def begins_loading(kind: JourneyKind, status: Status) -> bool:
    """A segment journey starts loading its list the first time it is ACTIVE (by
    START, or by ACTIVATE with no start date ahead); later entries into ACTIVE
    (RESUME, RECOVER) carry on with the same load."""
    return kind is JourneyKind.SEGMENT_SCHEDULED and status is Status.ACTIVE


def admission_refusal(
    status: Status, start_at: datetime | None, end_at: datetime | None, now: datetime
) -> Refusal | None:
    """Why nobody may enter a journey now, or None when it admits."""
    if not traits(status).admits_new_audience:
        return Refusal.NOT_ADMITTING
    if not window_is_open(start_at, end_at, now):
        return Refusal.OUTSIDE_WINDOW
    return None


# Statuses whose customers move on to their next step, and whose queued
# deliveries go out: derived from the status table, for the store's queries.
PROCESSING_STATUSES: tuple[Status, ...] = tuple(s for s in Status if traits(s).processes_steps)


def listens_for_events(status: Status) -> bool:
    """Whether an event-triggered journey answers its events (by admitting, or by
    saying why not): every status but the one a journey is designed in and the
    terminal one. A draft is not listening yet; an aborted journey never again."""
    return status is not INITIAL_STATUS and not exits_customers(status)


def exits_customers(status: Status) -> bool:
    """Entering this status exits everyone inside and cancels their queued messages."""
    return traits(status).customers_inside is CustomersInside.EXITED


def holds_customers(status: Status) -> bool:
    """Customers inside wait where they are, and queued messages stay queued."""
    return traits(status).customers_inside is CustomersInside.HELD
