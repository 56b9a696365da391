"""The rules of a profile's attributes and an event's properties and time
(docs/rules.md, "Customers and their data")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.customers import (
    checked_attributes,
    checked_event_time,
    checked_properties,
    merge_problem,
    merged,
)
from domain.errors import ValidationFailed

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "attributes, refusal",
    [
        ({"first name": "Ann"}, "'first name' is not a name"),
        ({"a" * 65: 1}, "is not a name"),
        ({f"k{n}": n for n in range(101)}, "at most 100 keys, not 101"),
        ({"note": "x" * 1001}, "at most 1000 characters, not 1001"),
        ({"address": {"city": "Hanoi"}}, "not an object or a list"),
        ({"tags": ["a"]}, "not an object or a list"),
        ({"nul": "a\x00b"}, "may not hold NUL"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_attributes_our_rules_refuse(attributes: Any, refusal: str):
    with pytest.raises(ValidationFailed, match=refusal.replace("(", r"\(")):
        checked_attributes(attributes)


def test_attributes_take_strings_numbers_booleans_and_null_to_remove():
    given = {"email": "ann@example.com", "score": 4.5, "vip": True, "plan": None, "_n2": 0}
    assert checked_attributes(given) == given


def test_properties_hold_fifty_keys_and_no_nulls():
    checked_properties({f"k{n}": n for n in range(50)})
    with pytest.raises(ValidationFailed, match="at most 50 keys"):
        checked_properties({f"k{n}": n for n in range(51)})
    with pytest.raises(ValidationFailed, match="is null"):
        checked_properties({"amount": None})
    with pytest.raises(ValidationFailed, match="at most 1000 characters"):
        checked_properties({"blob": "x" * 1_000_000})


def test_a_merge_sets_removes_and_keeps():
    assert merged({"a": 1, "b": 2}, {"b": None, "c": 3}) == {"a": 1, "c": 3}
    assert merge_problem({f"k{n}": n for n in range(101)}) is not None


def test_an_event_time_defaults_to_now_and_may_not_be_far_ahead():
    assert checked_event_time(None, NOW) == NOW
    assert checked_event_time(NOW + timedelta(minutes=5), NOW) == NOW + timedelta(minutes=5)
    with pytest.raises(ValidationFailed, match="ahead of now"):
        checked_event_time(NOW + timedelta(hours=1), NOW)
    with pytest.raises(ValidationFailed, match="UTC offset"):
        checked_event_time(datetime(2030, 1, 1), NOW)
