"""Customers' data: their ids, a profile's attributes and an event's properties, and
their rules (docs/rules.md, "Customers and their data").

Both are flat JSON objects of named values. A name is a letter or `_`, then
letters, digits or `_`, at most 64 characters. A value is a string (at most
1,000 characters), a number or a boolean; a date is a string `YYYY-MM-DD`, a
date-time one with an offset (domain.conditions reads them as dates). In a
change to a profile, `null` removes the attribute.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.errors import ValidationFailed
from domain.text import has_unreadable_characters

MAX_CUSTOMER_ID_LENGTH = 200
MAX_ATTRIBUTES = 100
MAX_PROPERTIES = 50
MAX_NAME_LENGTH = 64
MAX_STRING_LENGTH = 1_000
MAX_UPSERT_BATCH = 1_000
MAX_EVENT_NAME_LENGTH = 200
# What both databases keep as a whole number (a larger one would not read back the same).
MAX_INTEGER = 2**63 - 1
# A clock a little ahead of ours is tolerated; an event further in the future is a mistake.
MAX_EVENT_LEAD = timedelta(minutes=5)
# Attributes the product reads: the email channel's address, and the zone quiet hours use.
EMAIL = "email"
TIMEZONE = "timezone"

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Neither can be stored: PostgreSQL's jsonb refuses NUL, and a lone surrogate is no text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

Value = str | int | float | bool


@dataclass(frozen=True)
class CustomerEvent:
    """Something a customer did: its name, properties, and when."""

    name: str
    properties: Mapping[str, Value]
    at: datetime


def is_valid_customer_id(customer_id: str) -> bool:
    """1 to 200 characters, none of them a control, format or surrogate character
    (no NUL, no escape sequences, no invisible direction marks)."""
    if not customer_id or len(customer_id) > MAX_CUSTOMER_ID_LENGTH:
        return False
    if customer_id != customer_id.strip():
        return False
    return not has_unreadable_characters(customer_id)


def is_attribute_name(name: object) -> bool:
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def value_problem(value: object) -> str | None:
    """Why `value` cannot be an attribute's or a property's value, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        return "a whole number is at most 9223372036854775807 in size (use a string for codes)"
    if isinstance(value, int | float):
        return None if math.isfinite(value) else "a number must be finite"
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            return f"a text value has at most {MAX_STRING_LENGTH} characters, not {len(value)}"
        if _UNSTORABLE.search(value):
            return "a text value may not hold NUL or a lone surrogate character"
        return None
    if isinstance(value, dict | list):
        return "a value is a string, a number or a boolean, not an object or a list"
    return f"a value is a string, a number or a boolean, not {type(value).__name__}"


def _object_problems(what: str, data: object, max_keys: int, *, removals: bool) -> list[str]:
    if not isinstance(data, Mapping):
        return [f"{what} must be a JSON object of named values"]
    problems = []
    if len(data) > max_keys:
        problems.append(f"{what} hold at most {max_keys} keys, not {len(data)}")
    for name, value in data.items():
        if not is_attribute_name(name):
            shown = name if len(str(name)) <= 80 else f"{str(name)[:80]}..."
            problems.append(
                f"{what}: {shown!r} is not a name (a letter or _, then letters, digits or _, "
                f"at most {MAX_NAME_LENGTH} characters)"
            )
            continue
        if value is None:
            if not removals:
                problems.append(f"{what}: {name} is null; give a value or leave it out")
            continue
        problem = value_problem(value)
        if problem:
            problems.append(f"{what}: {name}: {problem}")
        if len(problems) >= 5:
            break
    return problems


def checked_attributes(data: object, *, removals: bool = True) -> dict[str, Value | None]:
    """A change to a profile's attributes (None removes the key), or ValidationFailed."""
    problems = _object_problems("attributes", data, MAX_ATTRIBUTES, removals=removals)
    if problems:
        raise ValidationFailed("; ".join(problems))
    assert isinstance(data, Mapping)
    return dict(data)


def checked_properties(data: object) -> dict[str, Value]:
    """An event's properties (None: no properties), or ValidationFailed."""
    if data is None:
        return {}
    problems = _object_problems("properties", data, MAX_PROPERTIES, removals=False)
    if problems:
        raise ValidationFailed("; ".join(problems))
    assert isinstance(data, Mapping)
    return dict(data)


def merged(attributes: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """A profile's attributes after a change: given keys set, null keys removed, the rest kept."""
    result = {**attributes, **change}
    return {name: value for name, value in result.items() if value is not None}


def merge_problem(attributes: Mapping[str, Any]) -> str | None:
    """Why merged attributes cannot be kept (too many), or None."""
    if len(attributes) > MAX_ATTRIBUTES:
        return (
            f"a profile holds at most {MAX_ATTRIBUTES} attributes; "
            f"this change makes {len(attributes)}"
        )
    return None


def checked_event_time(at: datetime | None, now: datetime) -> datetime:
    """When an event happened: `at` (with an offset, not ahead of `now` by more than
    MAX_EVENT_LEAD), or `now` when not given."""
    if at is None:
        return now
    if at.utcoffset() is None:
        raise ValidationFailed("at must carry a UTC offset, e.g. 2026-12-01T09:00:00Z")
    if at > now + MAX_EVENT_LEAD:
        raise ValidationFailed(
            f"at is {at.isoformat()}, more than {int(MAX_EVENT_LEAD.total_seconds() // 60)} "
            "minutes ahead of now: an event is tracked once it has happened"
        )
    return at
