"""The first reading of a condition (domain.conditions): whether one customer, with its
attributes and events, meets it now. `domain.condition_sql` is the other, for a set."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from domain.conditions import (
    NUMBER_OPS,
    TEXT_OPS,
    AllOf,
    AnyOf,
    AttributeCondition,
    Condition,
    ConditionOp,
    EventCondition,
    Not,
)
from domain.customers import CustomerEvent


def kind_of(value: object) -> str | None:
    """A JSON value's type as the rules compare them: number, string, boolean or None."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _is_number(value: object) -> bool:
    return kind_of(value) == "number"


def date_of(value: object) -> date | None:
    """The calendar date a value begins with (`YYYY-MM-DD`, alone or before a `T`), or None."""
    if not isinstance(value, str) or not _DATE_START.match(value):
        return None
    if len(value) > 10 and value[10] != "T":
        return None
    try:
        return date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return None


_DATE_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _equal(found: object, wanted: object) -> bool:
    kind = kind_of(found)
    if kind is None or kind != kind_of(wanted):
        return False
    if kind == "number":
        return float(found) == float(wanted)  # type: ignore[arg-type]
    return found == wanted


def attribute_matches(
    condition: AttributeCondition, values: Mapping[str, Any], today: date
) -> bool:
    op = condition.op
    present = values.get(condition.name) is not None
    if op is ConditionOp.EXISTS:
        return present
    if op is ConditionOp.NOT_EXISTS:
        return not present
    if not present:
        return False
    found = values[condition.name]
    wanted = condition.value
    if op is ConditionOp.EQUALS:
        return _equal(found, wanted)
    if op is ConditionOp.NOT_EQUALS:
        return kind_of(found) == kind_of(wanted) and not _equal(found, wanted)
    if op is ConditionOp.IN:
        return any(_equal(found, item) for item in wanted)
    if op in NUMBER_OPS:
        return _is_number(found) and NUMBER_OPS[op](float(found), float(wanted))
    if op in TEXT_OPS:
        if not isinstance(found, str):
            return False
        return wanted in found if op is ConditionOp.CONTAINS else found.startswith(wanted)
    day = date_of(found)
    if day is None:
        return False
    if op is ConditionOp.BEFORE:
        return day.isoformat() < str(wanted)
    if op is ConditionOp.AFTER:
        return day.isoformat() > str(wanted)
    if op is ConditionOp.WITHIN_LAST_DAYS:
        return today - timedelta(days=wanted) <= day <= today
    if op is ConditionOp.MONTH_IS:
        return bool(day.month == wanted)
    return bool(day.day == wanted)


def where_matches(
    where: Sequence[AttributeCondition], properties: Mapping[str, Any], now: datetime
) -> bool:
    """Whether an event's properties meet every condition of a `where`."""
    today = now.date()
    return all(attribute_matches(item, properties, today) for item in where)


def event_since(condition: EventCondition, now: datetime) -> datetime | None:
    """The earliest moment an event counts for an event condition (None: any time)."""
    if condition.within_days is None:
        return None
    return now - timedelta(days=condition.within_days)


def matches(
    condition: Condition,
    attributes: Mapping[str, Any],
    events: Sequence[CustomerEvent],
    now: datetime,
) -> bool:
    """Whether a customer with these attributes and events meets the condition at `now`."""
    if isinstance(condition, AllOf):
        return all(matches(part, attributes, events, now) for part in condition.parts)
    if isinstance(condition, AnyOf):
        return any(matches(part, attributes, events, now) for part in condition.parts)
    if isinstance(condition, Not):
        return not matches(condition.part, attributes, events, now)
    if isinstance(condition, EventCondition):
        since = event_since(condition, now)
        found = sum(
            1
            for event in events
            if event.name == condition.name
            and (since is None or event.at >= since)
            and where_matches(condition.where, event.properties, now)
        )
        return found >= condition.at_least
    return attribute_matches(condition, attributes, now.date())
