"""A condition (domain.conditions) in words: the sentence a marketer reads."""

from __future__ import annotations

from domain.conditions import (
    AllOf,
    AnyOf,
    AttributeCondition,
    Condition,
    ConditionOp,
    EventCondition,
    Not,
)

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
