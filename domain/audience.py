"""A segment journey's audience: the customers it targets, as a list of ids (given
inline or uploaded) or a condition, and when it begins loading (docs/rules.md,
"Customers": segment lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from domain.content import JourneyKind
from domain.customers import MAX_CUSTOMER_ID_LENGTH, is_valid_customer_id
from domain.errors import ValidationFailed
from domain.statuses import CustomersInside, Status, traits

# An audience given inline in a mutation; a longer list is uploaded as a stream.
MAX_INLINE_AUDIENCE = 10_000


class ListRefusal(StrEnum):
    """Why a line of an uploaded audience list was not taken into the list."""

    INVALID_ID = "INVALID_ID"  # as for entry: empty, too long, control characters
    DUPLICATE = "DUPLICATE"  # the same id on an earlier line: a customer is listed once
    MALFORMED_LINE = "MALFORMED_LINE"  # a CSV line that cannot be read (quotes, columns)


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
