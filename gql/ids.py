"""Journey ids as clients send them."""

from __future__ import annotations

import uuid

from domain.errors import NotFound


def stored_form(value: str) -> str | None:
    """A journey id as it is stored (a UUID, canonical), or None if `value` cannot be one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def journey_id(value: str) -> str:
    """A journey id in its stored form; anything that cannot be one is simply not found."""
    stored = stored_form(value)
    if stored is None:
        raise NotFound(f"no journey with id {value!r} in your workspace")
    return stored


def journey_id_or_none(value: str | None) -> str | None:
    return None if value is None else journey_id(value)
