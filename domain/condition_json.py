"""A condition's JSON form, the API's (docs/rules.md, "Conditions"): read with every rule
checked, naming the place in it that a rule refuses, and written back as it was given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.condition_match import date_of, kind_of
from domain.conditions import (
    MAX_DEPTH,
    MAX_IN_VALUES,
    MAX_LEAVES,
    MAX_WITHIN_DAYS,
    NUMBER_OPS,
    PRESENCE_OPS,
    TEXT_OPS,
    AllOf,
    AnyOf,
    AttributeCondition,
    Condition,
    ConditionOp,
    EventCondition,
    Not,
    count_leaves,
)
from domain.customers import MAX_EVENT_NAME_LENGTH, is_attribute_name, value_problem
from domain.errors import ValidationFailed
from domain.text import text_problem

# What a date op's value is: a date, a number of days, a month or a day of the month.
_DATE_VALUE_RANGES = {
    ConditionOp.WITHIN_LAST_DAYS: (0, MAX_WITHIN_DAYS),
    ConditionOp.MONTH_IS: (1, 12),
    ConditionOp.DAY_OF_MONTH_IS: (1, 31),
}


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
        if kind_of(value) != "number":
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
