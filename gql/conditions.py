"""The condition language over GraphQL: `ConditionInput` (@oneOf) and its parts.

A condition given here becomes its JSON form (the same keys, camelCase) and
is read by `domain.conditions`, which refuses what its rules refuse, naming
the place. Journeys show a stored condition in that JSON form, which a
client may pass back as a `ConditionInput` variable as it is.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.condition_json import condition_from_json, where_from_json
from domain.conditions import AttributeCondition, Condition, ConditionOp

strawberry.enum(ConditionOp, description="How an attribute is compared with a value.")


@strawberry.input(
    description="An attribute of the profile (or a property of the event) against a value. "
    "EXISTS and NOT_EXISTS take no value; IN a list; the date ops (BEFORE, AFTER: "
    "YYYY-MM-DD; WITHIN_LAST_DAYS: days; MONTH_IS: 1-12; DAY_OF_MONTH_IS: 1-31) read the "
    "attribute as a date."
)
class AttributeConditionInput:
    name: str
    op: ConditionOp
    value: JSON | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op.value, "value": self.value}


@strawberry.input(
    description="The customer did the event `name` at least `atLeast` times (in the last "
    "`withinDays` days, when given), with properties that meet every `where`."
)
class EventConditionInput:
    name: str
    within_days: int | None = None
    at_least: int = 1
    where: list[AttributeConditionInput] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "withinDays": self.within_days,
            "atLeast": self.at_least,
            "where": [item.to_json() for item in self.where] if self.where else None,
        }


@strawberry.input(
    one_of=True,
    description="Exactly one of: all (every part holds), any (one part holds), not, an "
    "attribute condition, an event condition. At most 5 levels and 50 leaves.",
)
class ConditionInput:
    all: list[ConditionInput] | None = strawberry.UNSET
    any: list[ConditionInput] | None = strawberry.UNSET
    not_: ConditionInput | None = strawberry.field(name="not", default=strawberry.UNSET)
    attribute: AttributeConditionInput | None = strawberry.UNSET
    event: EventConditionInput | None = strawberry.UNSET

    def to_json(self) -> dict[str, Any]:
        given = {
            "all": self.all,
            "any": self.any,
            "not": self.not_,
            "attribute": self.attribute,
            "event": self.event,
        }
        found: dict[str, Any] = {}
        for key, value in given.items():
            if value is None or value is strawberry.UNSET:
                continue
            if isinstance(value, list):
                found[key] = [part.to_json() for part in value]
            else:
                found[key] = value.to_json()
        return found


def condition_of(given: ConditionInput, place: str = "condition") -> Condition:
    """The condition a client gave, or ValidationFailed naming what is wrong and where."""
    return condition_from_json(given.to_json(), place)


def where_of(
    given: list[AttributeConditionInput] | None, place: str
) -> tuple[AttributeCondition, ...]:
    """A list of attribute conditions (empty when not given)."""
    return where_from_json([item.to_json() for item in given], place) if given else ()
