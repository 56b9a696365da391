"""One condition language for segments, trigger filters and (later) the flow's
branches (docs/rules.md, "Conditions").

A condition is a tree: `all`, `any` and `not` over leaves, each leaf an
attribute condition (a profile's attribute, or an event's property, against
a value by an op) or an event condition (how many events of a name the
customer did, within some days, with properties that match). It has two
readings that must agree: `domain.condition_match.matches` evaluates it on one
customer, and `domain.condition_sql` compiles it to SQL for a whole set. Its JSON
form is the API's (`{"all": [...]}`, `{"attribute": {"name", "op", "value"}}`...),
read and written by `domain.condition_json`, stored as given; `domain.condition_words`
says it in a sentence.

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

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

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


def count_leaves(condition: Condition) -> int:
    if isinstance(condition, AllOf | AnyOf):
        return sum(count_leaves(part) for part in condition.parts)
    if isinstance(condition, Not):
        return count_leaves(condition.part)
    if isinstance(condition, EventCondition):
        return 1 + len(condition.where)
    return 1


def event_names(condition: Condition) -> set[str]:
    """The names of the events a condition reads (to load only those)."""
    if isinstance(condition, AllOf | AnyOf):
        return set().union(*(event_names(part) for part in condition.parts))
    if isinstance(condition, Not):
        return event_names(condition.part)
    if isinstance(condition, EventCondition):
        return {condition.name}
    return set()
