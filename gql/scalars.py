"""DateTime that refuses a date without an offset instead of guessing one."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry


class InvalidValue(ValueError):
    """An input value our rules refuse (shown with code VALIDATION_FAILED)."""


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidValue("a DateTime is an ISO 8601 string, e.g. 2026-12-01T09:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(
            f"{value!r} is not an ISO 8601 date and time, e.g. 2026-12-01T09:00:00Z"
        ) from None
    if parsed.utcoffset() is None:
        raise InvalidValue(f"{value!r} has no UTC offset; add one, e.g. 'Z' or '+02:00'")
    return parsed.astimezone(UTC)


def serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


DateTime = strawberry.scalar(
    name="DateTime",
    description="An ISO 8601 date and time with a UTC offset, e.g. 2026-12-01T09:00:00Z.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
