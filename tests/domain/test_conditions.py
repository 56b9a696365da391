"""The condition language's rules (docs/rules.md, "Conditions"): what is refused at
save and where, the type rules on one customer, and the words a dashboard shows.
That the SQL reading agrees is tests/store/test_condition_readings.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.condition_json import condition_from_json, condition_to_json
from domain.condition_match import matches
from domain.condition_words import describe
from domain.conditions import AttributeCondition, ConditionOp, EventCondition
from domain.customers import CustomerEvent
from domain.errors import ValidationFailed

NOW = datetime(2030, 5, 14, 12, 0, tzinfo=UTC)


def attribute(name: str, op: str, value: Any = None) -> dict[str, Any]:
    leaf: dict[str, Any] = {"name": name, "op": op}
    if value is not None:
        leaf["value"] = value
    return {"attribute": leaf}


def nested(levels: int) -> dict[str, Any]:
    condition = attribute("plan", "EXISTS")
    for _ in range(levels - 1):
        condition = {"not": condition}
    return condition


@pytest.mark.parametrize(
    "given, refusal",
    [
        (nested(6), "condition.not.not.not.not.not: a condition nests at most 5 levels"),
        ({"any": [attribute("a", "EXISTS")] * 51}, "at most 50 leaves, not 51"),
        (attribute("plan", "IN", "gold"), "(plan IN): the value must be a non-empty list"),
        (attribute("plan", "IN", []), "the value must be a non-empty list"),
        (attribute("birthday", "BEFORE", "2026-02-30"), "must be a date, YYYY-MM-DD"),
        (attribute("birthday", "AFTER", "May 1st"), "must be a date, YYYY-MM-DD"),
        (attribute("birthday", "MONTH_IS", 13), "a whole number from 1 to 12"),
        (attribute("birthday", "MONTH_IS", "5"), "a whole number from 1 to 12"),
        (attribute("score", "GREATER_THAN", "5"), "the value must be a number"),
        (attribute("email", "CONTAINS", ""), "a non-empty string"),
        (attribute("email", "EXISTS", "yes"), "takes no value"),
        (attribute("plan", "EQUALS", None), "needs a value"),
        (attribute("plan", "EQUALS", {"a": 1}), "not an object or a list"),
        (attribute("first name", "EXISTS"), "is not an attribute name"),
        (attribute("x') OR 1=1 --", "EXISTS"), "is not an attribute name"),
        (attribute("a" * 65, "EXISTS"), "is not an attribute name"),
        (attribute("plan", "LIKE", "g%"), "unknown op 'LIKE'"),
        ({"all": []}, "condition.all must be a non-empty list"),
        ({"all": [attribute("a", "EXISTS")], "any": []}, "exactly one of"),
        ({"event": {"name": "purchase", "atLeast": 0}}, "atLeast must be from 1"),
        ({"event": {"name": "purchase", "withinDays": 0}}, "withinDays must be from 1"),
        (
            {"event": {"name": "purchase", "where": [{"name": "amount", "op": "AT_LEAST"}]}},
            "condition.event.where[0] (amount AT_LEAST): needs a value",
        ),
    ],
)
def test_a_condition_our_rules_refuse_names_the_place(given: Any, refusal: str):
    with pytest.raises(ValidationFailed) as refused:
        condition_from_json(given)
    assert refusal in refused.value.message


def test_five_levels_and_fifty_leaves_are_allowed():
    condition_from_json(nested(5))
    condition_from_json({"any": [attribute("a", "EXISTS")] * 50})


def test_the_json_form_goes_round_unchanged():
    given = {
        "all": [
            attribute("birthday", "MONTH_IS", 5),
            {
                "not": {
                    "event": {
                        "name": "purchase",
                        "atLeast": 2,
                        "withinDays": 30,
                        "where": [{"name": "amount", "op": "AT_LEAST", "value": 10}],
                    }
                }
            },
            attribute("plan", "IN", ["gold", 2, True]),
        ]
    }
    assert condition_to_json(condition_from_json(given)) == given


def one(name: str, op: ConditionOp, value: Any = None) -> AttributeCondition:
    return AttributeCondition(name, op, value)


@pytest.mark.parametrize(
    "profile, condition, expected",
    [
        ({"score": 5}, one("score", ConditionOp.EQUALS, 5.0), True),
        ({"score": "5"}, one("score", ConditionOp.EQUALS, 5), False),
        ({"score": "5"}, one("score", ConditionOp.NOT_EQUALS, 5), False),
        ({}, one("score", ConditionOp.NOT_EQUALS, 5), False),
        ({}, one("score", ConditionOp.NOT_EXISTS), True),
        ({"vip": True}, one("vip", ConditionOp.EQUALS, 1), False),
        ({"vip": 1}, one("vip", ConditionOp.EQUALS, True), False),
        ({"plan": "Gold"}, one("plan", ConditionOp.EQUALS, "gold"), False),
        ({"birthday": "1990-05-31"}, one("birthday", ConditionOp.MONTH_IS, 5), True),
        ({"birthday": "1990-05-31T23:00:00-05:00"}, one("birthday", ConditionOp.MONTH_IS, 5), True),
        ({"birthday": "1990-02-30"}, one("birthday", ConditionOp.MONTH_IS, 2), False),
        ({"birthday": "2000-02-29"}, one("birthday", ConditionOp.DAY_OF_MONTH_IS, 29), True),
        ({"birthday": "1900-02-29"}, one("birthday", ConditionOp.DAY_OF_MONTH_IS, 29), False),
        ({"birthday": "1990-05-14 "}, one("birthday", ConditionOp.MONTH_IS, 5), False),
        ({"seen": "2030-05-14"}, one("seen", ConditionOp.WITHIN_LAST_DAYS, 0), True),
        ({"seen": "2030-05-15"}, one("seen", ConditionOp.WITHIN_LAST_DAYS, 30), False),
        ({"seen": "2030-04-14"}, one("seen", ConditionOp.WITHIN_LAST_DAYS, 30), True),
        ({"seen": "2030-04-13"}, one("seen", ConditionOp.WITHIN_LAST_DAYS, 30), False),
        ({"seen": "2030-04-13"}, one("seen", ConditionOp.BEFORE, "2030-04-14"), True),
        ({"email": "ann@example.com"}, one("email", ConditionOp.CONTAINS, "@example"), True),
        ({"email": "ann@example.com"}, one("email", ConditionOp.STARTS_WITH, "bob"), False),
        ({"plan": "gold"}, one("plan", ConditionOp.IN, ("silver", "gold")), True),
    ],
)
def test_the_type_rules_on_one_profile(profile: Any, condition: Any, expected: bool):
    assert matches(condition, profile, [], NOW) is expected


def test_an_event_condition_counts_the_events_that_match_within_the_days():
    purchase = EventCondition(
        "purchase", within_days=5, at_least=2, where=(one("amount", ConditionOp.AT_LEAST, 100),)
    )
    events = [
        CustomerEvent("purchase", {"amount": 150}, NOW - timedelta(days=1)),
        CustomerEvent("purchase", {"amount": 50}, NOW - timedelta(days=1)),
        CustomerEvent("purchase", {"amount": 200}, NOW - timedelta(days=6)),
        CustomerEvent("visit", {"amount": 500}, NOW),
    ]
    assert not matches(purchase, {}, events, NOW)
    events.append(CustomerEvent("purchase", {"amount": 100}, NOW - timedelta(days=5)))
    assert matches(purchase, {}, events, NOW)


def test_a_condition_in_words():
    condition = condition_from_json(
        {
            "all": [
                attribute("birthday", "MONTH_IS", 5),
                attribute("country", "EQUALS", "VN"),
                {"not": {"event": {"name": "purchase", "withinDays": 30}}},
            ]
        }
    )
    assert describe(condition) == (
        'birthday is in May and country is "VN" and not did "purchase" at least once '
        "in the last 30 days"
    )
