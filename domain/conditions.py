"""One condition language for segments, trigger filters and (later) the flow's
branches (docs/rules.md, "Conditions").

A condition is a tree: `all`, `any` and `not` over leaves, each leaf an
attribute condition (a profile's attribute, or an event's property, against
a value by an op) or an event condition (how many events of a name the
customer did, within some days, with properties that match). It has two
readings that must agree: `matches` evaluates it on one customer here, and
`domain.condition_sql` compiles it to SQL for a whole set. Its JSON form is
the API's (`{"all": [...]}`, `{"attribute": {"name", "op", "value"}}`...),
stored as given.

The type rules, the same in both readings:
- a number compares only with a number (as a 64-bit float), a string only
  with a string, a boolean only with a boolean; values of other types never
  match, NOT_EQUALS included;
- a missing attribute matches only NOT_EXISTS;
- a date op reads a string that begins with a calendar date `YYYY-MM-DD`
  (alone, or followed by `T` and a time, as a date-time is written) as that
  date; the time and its offset are not read. Anything else never matches.
  Today is the injected clock's date in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeAlias

from domain.customers import MAX_EVENT_NAME_LENGTH, CustomerEvent, is_attribute_name, value_problem
from domain.errors import ValidationFailed
from domain.text import text_problem

MAX_DEPTH = 5
MAX_LEAVES = 50
MAX_IN_VALUES = 1_000
MAX_WITHIN_DAYS = 36_600


class ConditionOp(StrEnum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    GREATER_THAN = "GREATER_THAN"
    AT_LEAST = "AT_LEAST"
    LESS_THAN = "LESS_THAN"
    AT_MOST = "AT_MOST"
    IN = "IN"
    CONTAINS = "CONTAINS"
    STARTS_WITH = "STARTS_WITH"
    EXISTS = "EXISTS"
    NOT_EXISTS = "NOT_EXISTS"
    BEFORE = "BEFORE"
    AFTER = "AFTER"
    WITHIN_LAST_DAYS = "WITHIN_LAST_DAYS"
    MONTH_IS = "MONTH_IS"
    DAY_OF_MONTH_IS = "DAY_OF_MONTH_IS"


NUMBER_OPS = {
    ConditionOp.GREATER_THAN: float.__gt__,
    ConditionOp.AT_LEAST: float.__ge__,
    ConditionOp.LESS_THAN: float.__lt__,
    ConditionOp.AT_MOST: float.__le__,
}
TEXT_OPS = (ConditionOp.CONTAINS, ConditionOp.STARTS_WITH)
PRESENCE_OPS = (ConditionOp.EXISTS, ConditionOp.NOT_EXISTS)
DATE_OPS = (
    ConditionOp.BEFORE,
    ConditionOp.AFTER,
    ConditionOp.WITHIN_LAST_DAYS,
    ConditionOp.MONTH_IS,
    ConditionOp.DAY_OF_MONTH_IS,
)
# What a date op's value is: a date, a number of days, a month or a day of the month.
_DATE_VALUE_RANGES = {
    ConditionOp.WITHIN_LAST_DAYS: (0, MAX_WITHIN_DAYS),
    ConditionOp.MONTH_IS: (1, 12),
    ConditionOp.DAY_OF_MONTH_IS: (1, 31),
}
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@dataclass(frozen=True)
class AttributeCondition:
    name: str
    op: ConditionOp
    value: Any = None


@dataclass(frozen=True)
class EventCondition:
    name: str
    within_days: int | None = None
    at_least: int = 1
    where: tuple[AttributeCondition, ...] = ()


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition: TypeAlias = AllOf | AnyOf | Not | AttributeCondition | EventCondition


# -- reading the JSON form ------------------------------------------------------------


def condition_from_json(data: object, place: str = "condition") -> Condition:
    """The condition of a JSON value (the API's input), or ValidationFailed naming the
    place in it that our rules refuse."""
    condition = _node(data, place, depth=1)
    leaves = count_leaves(condition)
    if leaves > MAX_LEAVES:
        raise ValidationFailed(
            f"{place}: a condition has at most {MAX_LEAVES} leaves, not {leaves}"
        )
    return condition


def where_from_json(data: object, place: str) -> tuple[AttributeCondition, ...]:
    """A list of attribute conditions (an event's `where`, a trigger's filter)."""
    if not isinstance(data, list):
        raise ValidationFailed(f"{place} must be a list of attribute conditions")
    if len(data) > MAX_LEAVES:
        raise ValidationFailed(f"{place} has at most {MAX_LEAVES} conditions, not {len(data)}")
    return tuple(_attribute(item, f"{place}[{i}]") for i, item in enumerate(data))


def _node(data: object, place: str, depth: int) -> Condition:
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"{place}: a condition nests at most {MAX_DEPTH} levels")
    if not isinstance(data, Mapping):
        raise ValidationFailed(
            f"{place} must be an object with one of all, any, not, attribute, event"
        )
    given = [key for key, value in data.items() if value is not None]
    if len(given) != 1 or given[0] not in ("all", "any", "not", "attribute", "event"):
        raise ValidationFailed(
            f"{place} must have exactly one of all, any, not, attribute, event "
            f"(it has {', '.join(map(str, given)) or 'none'})"
        )
    [key] = given
    value = data[key]
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ValidationFailed(f"{place}.{key} must be a non-empty list of conditions")
        parts = tuple(_node(item, f"{place}.{key}[{i}]", depth + 1) for i, item in enumerate(value))
        return AllOf(parts) if key == "all" else AnyOf(parts)
    if key == "not":
        return Not(_node(value, f"{place}.not", depth + 1))
    if key == "attribute":
        return _attribute(value, f"{place}.attribute")
    return _event(value, f"{place}.event")


def _attribute(data: object, place: str) -> AttributeCondition:
    if not isinstance(data, Mapping):
        raise ValidationFailed(f"{place} must be an object with name, op and value")
    name = data.get("name")
    if not is_attribute_name(name):
        raise ValidationFailed(
            f"{place}: name {name!r} is not an attribute name (a letter or _, then letters, "
            "digits or _, at most 64 characters)"
        )
    try:
        op = ConditionOp(str(data.get("op")))
    except ValueError:
        raise ValidationFailed(f"{place}: unknown op {data.get('op')!r}") from None
    value = data.get("value")
    problem = _value_shape_problem(op, value)
    if problem:
        raise ValidationFailed(f"{place} ({name} {op}): {problem}")
    assert isinstance(name, str)
    if op is ConditionOp.IN:
        assert isinstance(value, list | tuple)
        value = tuple(value)
    return AttributeCondition(name, op, value)


def _value_shape_problem(op: ConditionOp, value: object) -> str | None:
    if op in PRESENCE_OPS:
        return None if value is None else "takes no value"
    if value is None:
        return "needs a value"
    if op in (ConditionOp.EQUALS, ConditionOp.NOT_EQUALS):
        return value_problem(value)
    if op is ConditionOp.IN:
        if not isinstance(value, list | tuple) or not value:
            return "the value must be a non-empty list"
        if len(value) > MAX_IN_VALUES:
            return f"the list holds at most {MAX_IN_VALUES} values"
        for item in value:
            if item is None or isinstance(item, dict | list):
                return "each value of the list is a string, a number or a boolean"
            problem = value_problem(item)
            if problem:
                return problem
        return None
    if op in NUMBER_OPS:
        if not _is_number(value):
            return "the value must be a number"
        return value_problem(value)
    if op in TEXT_OPS:
        if not isinstance(value, str) or not value:
            return "the value must be a non-empty string"
        return value_problem(value)
    if op in (ConditionOp.BEFORE, ConditionOp.AFTER):
        if not isinstance(value, str) or len(value) != 10 or date_of(value) is None:
            return f"the value must be a date, YYYY-MM-DD (not {value!r})"
        return None
    low, high = _DATE_VALUE_RANGES[op]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return f"the value must be a whole number from {low} to {high}"
    return None


def _event(data: object, place: str) -> EventCondition:
    if not isinstance(data, Mapping):
        raise ValidationFailed(f"{place} must be an object with a name")
    name = data.get("name")
    if not isinstance(name, str):
        raise ValidationFailed(f"{place}: name must be an event name")
    problem = text_problem(f"{place}: name", name, MAX_EVENT_NAME_LENGTH)
    if problem:
        raise ValidationFailed(problem)
    within = data.get("withinDays")
    if within is not None and (
        not isinstance(within, int)
        or isinstance(within, bool)
        or not 1 <= within <= MAX_WITHIN_DAYS
    ):
        raise ValidationFailed(f"{place}: withinDays must be from 1 to {MAX_WITHIN_DAYS}")
    at_least = data.get("atLeast", 1)
    if at_least is None:
        at_least = 1
    if (
        not isinstance(at_least, int)
        or isinstance(at_least, bool)
        or not 1 <= at_least <= 1_000_000
    ):
        raise ValidationFailed(f"{place}: atLeast must be from 1 to 1000000")
    where = data.get("where")
    return EventCondition(
        name, within, at_least, where_from_json(where, f"{place}.where") if where else ()
    )


def count_leaves(condition: Condition) -> int:
    if isinstance(condition, AllOf | AnyOf):
        return sum(count_leaves(part) for part in condition.parts)
    if isinstance(condition, Not):
        return count_leaves(condition.part)
    if isinstance(condition, EventCondition):
        return 1 + len(condition.where)
    return 1


# -- writing the JSON form ------------------------------------------------------------


def condition_to_json(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, AllOf):
        return {"all": [condition_to_json(part) for part in condition.parts]}
    if isinstance(condition, AnyOf):
        return {"any": [condition_to_json(part) for part in condition.parts]}
    if isinstance(condition, Not):
        return {"not": condition_to_json(condition.part)}
    if isinstance(condition, EventCondition):
        event: dict[str, Any] = {"name": condition.name, "atLeast": condition.at_least}
        if condition.within_days is not None:
            event["withinDays"] = condition.within_days
        if condition.where:
            event["where"] = where_to_json(condition.where)
        return {"event": event}
    return {"attribute": attribute_to_json(condition)}


def attribute_to_json(condition: AttributeCondition) -> dict[str, Any]:
    value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
    found: dict[str, Any] = {"name": condition.name, "op": condition.op.value}
    if value is not None:
        found["value"] = value
    return found


def where_to_json(where: Sequence[AttributeCondition]) -> list[dict[str, Any]]:
    return [attribute_to_json(item) for item in where]


# -- the first reading: one customer -----------------------------------------------------


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


def event_names(condition: Condition) -> set[str]:
    """The names of the events a condition reads (to load only those)."""
    if isinstance(condition, AllOf | AnyOf):
        return set().union(*(event_names(part) for part in condition.parts))
    if isinstance(condition, Not):
        return event_names(condition.part)
    if isinstance(condition, EventCondition):
        return {condition.name}
    return set()


# -- in words ----------------------------------------------------------------------------


def describe(condition: Condition) -> str:
    """The condition as a sentence a marketer reads, e.g. `birthday is in May and country
    is "VN"`."""
    return _words(condition, top=True)


def _words(condition: Condition, top: bool = False) -> str:
    if isinstance(condition, AllOf | AnyOf):
        joiner = " and " if isinstance(condition, AllOf) else " or "
        text = joiner.join(_words(part) for part in condition.parts)
        return text if top or len(condition.parts) == 1 else f"({text})"
    if isinstance(condition, Not):
        return f"not {_words(condition.part)}"
    if isinstance(condition, EventCondition):
        times = (
            "at least once" if condition.at_least == 1 else f"at least {condition.at_least} times"
        )
        text = f'did "{condition.name}" {times}'
        if condition.within_days is not None:
            text += f" in the last {condition.within_days} days"
        if condition.where:
            text += " with " + " and ".join(describe_attribute(item) for item in condition.where)
        return text
    return describe_attribute(condition)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return f"{value:g}" if isinstance(value, float) else str(value)


_PHRASES = {
    ConditionOp.EQUALS: "is",
    ConditionOp.NOT_EQUALS: "is not",
    ConditionOp.GREATER_THAN: "is more than",
    ConditionOp.AT_LEAST: "is at least",
    ConditionOp.LESS_THAN: "is less than",
    ConditionOp.AT_MOST: "is at most",
    ConditionOp.CONTAINS: "contains",
    ConditionOp.STARTS_WITH: "starts with",
    ConditionOp.BEFORE: "is before",
    ConditionOp.AFTER: "is after",
    ConditionOp.DAY_OF_MONTH_IS: "is on day",
}


def describe_attribute(condition: AttributeCondition) -> str:
    name, op, value = condition.name, condition.op, condition.value
    if op is ConditionOp.EXISTS:
        return f"{name} is set"
    if op is ConditionOp.NOT_EXISTS:
        return f"{name} is not set"
    if op is ConditionOp.IN:
        return f"{name} is one of " + ", ".join(_shown(item) for item in value)
    if op is ConditionOp.MONTH_IS:
        return f"{name} is in {MONTHS[value - 1]}"
    if op is ConditionOp.WITHIN_LAST_DAYS:
        return f"{name} is within the last {value} days"
    if op is ConditionOp.DAY_OF_MONTH_IS:
        return f"{name} is on day {value} of the month"
    return f"{name} {_PHRASES[op]} {_shown(value)}"
