"""Journey ids as clients send them."""

from __future__ import annotations

import uuid

from domain.errors import NotFound


def journey_id(value: str) -> str:
    """A journey id in its stored form; anything that cannot be one is simply not found."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise NotFound(f"no journey with id {value!r} in your workspace") from None


def journey_id_or_none(value: str | None) -> str | None:
    return None if value is None else journey_id(value)
