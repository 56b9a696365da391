"""The eight statuses, each a pair of switches, kept as data (docs/rules.md, "Two switches"),
and what each does to the customers inside a journey."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    DESIGNING = "DESIGNING"
    SCHEDULED = "SCHEDULED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    CLOSED = "CLOSED"
    FROZEN = "FROZEN"
    ERROR = "ERROR"
    ABORTED = "ABORTED"


# Where every journey, and every copy, starts. No transition leads back to it,
# so a journey's first logged event is the one that leaves it.
INITIAL_STATUS = Status.DESIGNING


class EditMode(StrEnum):
    """What saving a content edit does in a status."""

    DRAFT = "DRAFT"  # a new version; nothing is live until ACTIVATE
    LIVE = "LIVE"  # a new version, live at once (timers re-planned)
    PENDING = "PENDING"  # a new version that only REACTIVATE makes live
    LOCKED = "LOCKED"  # refused


class CustomersInside(StrEnum):
    """What happens to customers already inside the journey."""

    NONE = "NONE"  # nobody can be inside yet
    PROCESSED = "PROCESSED"
    HELD = "HELD"
    EXITED = "EXITED"


@dataclass(frozen=True)
class StatusTraits:
    admits_new_audience: bool
    customers_inside: CustomersInside
    edit_mode: EditMode

    @property
    def processes_steps(self) -> bool:
        return self.customers_inside is CustomersInside.PROCESSED


STATUS_TABLE: dict[Status, StatusTraits] = {
    Status.DESIGNING: StatusTraits(False, CustomersInside.NONE, EditMode.DRAFT),
    Status.SCHEDULED: StatusTraits(False, CustomersInside.NONE, EditMode.LIVE),
    Status.ACTIVE: StatusTraits(True, CustomersInside.PROCESSED, EditMode.LOCKED),
    Status.PAUSED: StatusTraits(True, CustomersInside.HELD, EditMode.PENDING),
    Status.CLOSED: StatusTraits(False, CustomersInside.PROCESSED, EditMode.PENDING),
    Status.FROZEN: StatusTraits(False, CustomersInside.HELD, EditMode.PENDING),
    Status.ERROR: StatusTraits(False, CustomersInside.HELD, EditMode.LOCKED),
    Status.ABORTED: StatusTraits(False, CustomersInside.EXITED, EditMode.LOCKED),
}


def traits(status: Status) -> StatusTraits:
    return STATUS_TABLE[status]


def is_editable(status: Status) -> bool:
    return STATUS_TABLE[status].edit_mode is not EditMode.LOCKED


# Statuses whose customers move on to their next step, and whose queued
# deliveries go out: derived from the status table, for the store's queries.
PROCESSING_STATUSES: tuple[Status, ...] = tuple(s for s in Status if traits(s).processes_steps)


def exits_customers(status: Status) -> bool:
    """Entering this status exits everyone inside and cancels their queued messages."""
    return traits(status).customers_inside is CustomersInside.EXITED


def keeps_customers(status: Status) -> bool:
    """Customers may be inside a journey in this status (walking, or held): a goal
    event takes them out in any such status."""
    return traits(status).customers_inside in (CustomersInside.PROCESSED, CustomersInside.HELD)


def resumes_processing(previous: Status, status: Status) -> bool:
    """Customers held while the journey was in `previous` walk on in `status`: what
    happened meanwhile (an event a WAIT_FOR_EVENT waited for) is decided then."""
    return (
        traits(previous).customers_inside is CustomersInside.HELD and traits(status).processes_steps
    )


def holds_customers(status: Status) -> bool:
    """Customers inside wait where they are, and queued messages stay queued."""
    return traits(status).customers_inside is CustomersInside.HELD
