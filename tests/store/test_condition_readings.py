"""The two readings of a condition agree: `domain.conditions.matches` on each
customer, and the SQL of `domain.condition_sql` over the set, on SQLite and on
PostgreSQL, for random profiles, events and conditions (docs/rules.md, "Conditions").

Values are drawn to sit on the rules' edges: numbers of both kinds and
booleans beside strings that spell them, dates real and impossible (February 29
in and out of leap years, month 13, year 0000), date-times, strings that only
begin like a date, and the same few names, so that conditions often find the
attribute and often miss it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, insert

from domain.condition_json import condition_from_json, condition_to_json
from domain.condition_match import matches
from domain.conditions import (
    AllOf,
    AnyOf,
    AttributeCondition,
    Condition,
    ConditionOp,
    EventCondition,
    Not,
)
from domain.customers import CustomerEvent
from store.conditions import matching_ids
from store.database import sync_url
from store.tables import CUSTOMER_EVENTS, CUSTOMERS

NOW = datetime(2030, 5, 14, 15, 30, tzinfo=UTC)
NAMES = ("a", "b", "birthday", "plan")
EVENT_NAMES = ("purchase", "visit")

_dates = st.builds(
    lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    st.sampled_from([0, 1, 1900, 2000, 2028, 2029, 2030]),
    st.integers(0, 13),
    st.integers(0, 32),
)
_near_dates = st.builds(
    lambda days: (NOW.date() - timedelta(days=days)).isoformat(), st.integers(-3, 40)
)
_date_like = st.one_of(
    _dates,
    _near_dates,
    st.builds(
        lambda d, rest: d + rest, _near_dates, st.sampled_from(["T09:00:00Z", "T", " ", "x"])
    ),
)
_numbers = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([0.5, -0.0, 2.0, 1e16, 2**53 + 1]),
)
_texts = st.one_of(
    st.text(alphabet="ab-05T", max_size=4),
    st.sampled_from(["true", "1", "gold", "Gold", "é", "ab"]),
)
_values = st.one_of(_numbers, _texts, st.booleans(), _date_like)
_profiles = st.dictionaries(st.sampled_from(NAMES), _values, max_size=4)


def _leaf_value(op: ConditionOp) -> st.SearchStrategy[Any]:
    if op in (ConditionOp.EXISTS, ConditionOp.NOT_EXISTS):
        return st.none()
    if op in (ConditionOp.EQUALS, ConditionOp.NOT_EQUALS):
        return _values
    if op is ConditionOp.IN:
        return st.lists(_values, min_size=1, max_size=4)
    if op in (ConditionOp.CONTAINS, ConditionOp.STARTS_WITH):
        return st.text(alphabet="ab-05T", min_size=1, max_size=2)
    if op in (ConditionOp.BEFORE, ConditionOp.AFTER):
        return _near_dates
    if op is ConditionOp.WITHIN_LAST_DAYS:
        return st.integers(0, 30)
    if op is ConditionOp.MONTH_IS:
        return st.integers(1, 12)
    if op is ConditionOp.DAY_OF_MONTH_IS:
        return st.integers(1, 31)
    return _numbers


_ops = st.sampled_from(list(ConditionOp))
_attribute_conditions = _ops.flatmap(
    lambda op: st.builds(AttributeCondition, st.sampled_from(NAMES), st.just(op), _leaf_value(op))
).map(lambda c: condition_from_json({"attribute": condition_to_json(c)["attribute"]}))
_event_conditions = st.builds(
    EventCondition,
    st.sampled_from(EVENT_NAMES),
    st.one_of(st.none(), st.integers(1, 30)),
    st.integers(1, 3),
    st.lists(_attribute_conditions, max_size=2).map(tuple),
)
_conditions: st.SearchStrategy[Condition] = st.recursive(
    st.one_of(_attribute_conditions, _event_conditions),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: AllOf(tuple(parts))),
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: AnyOf(tuple(parts))),
        inner.map(Not),
    ),
    max_leaves=8,
)
_events = st.lists(
    st.builds(
        CustomerEvent,
        st.sampled_from(EVENT_NAMES),
        st.dictionaries(st.sampled_from(NAMES), _values, max_size=2),
        st.builds(lambda s: NOW - timedelta(seconds=s), st.integers(0, 40 * 86400)),
    ),
    max_size=4,
)
_customers = st.lists(st.tuples(_profiles, _events), min_size=1, max_size=6)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(customers=_customers, condition=_conditions)
def test_sql_and_python_agree(
    engine: Engine,
    customers: list[tuple[dict[str, Any], list[CustomerEvent]]],
    condition: Condition,
) -> None:
    workspace = uuid.uuid4().hex
    ids = [f"c{n:02d}" for n in range(len(customers))]
    with engine.begin() as connection:
        connection.execute(
            insert(CUSTOMERS),
            [
                {
                    "workspace_id": workspace,
                    "id": id_,
                    "attributes": attributes,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for id_, (attributes, _) in zip(ids, customers, strict=True)
            ],
        )
        events = [
            {
                "workspace_id": workspace,
                "customer_id": id_,
                "name": event.name,
                "properties": dict(event.properties),
                "at": event.at,
                "recorded_at": NOW,
            }
            for id_, (_, found) in zip(ids, customers, strict=True)
            for event in found
        ]
        if events:
            connection.execute(insert(CUSTOMER_EVENTS), events)
        in_sql = matching_ids(connection, workspace, condition, NOW)
    in_python = [
        id_
        for id_, (attributes, found) in zip(ids, customers, strict=True)
        if matches(condition, attributes, found, NOW)
    ]
    assert in_sql == in_python, condition_to_json(condition)


HOSTILE = "x') OR 1=1 --"


def test_a_hostile_value_is_only_a_value(engine: Engine) -> None:
    """Values are bound, never part of the statement: a value written to break out of a
    string literal matches only itself. (A hostile attribute name is refused before SQL:
    tests/domain/test_conditions.py.)"""
    workspace = uuid.uuid4().hex
    with engine.begin() as connection:
        connection.execute(
            insert(CUSTOMERS),
            [
                {
                    "workspace_id": workspace,
                    "id": "ann",
                    "attributes": {"plan": "gold"},
                    "created_at": NOW,
                    "updated_at": NOW,
                },
                {
                    "workspace_id": workspace,
                    "id": "eve",
                    "attributes": {"plan": HOSTILE},
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            ],
        )
        for op in ("EQUALS", "CONTAINS", "STARTS_WITH"):
            condition = condition_from_json(
                {"attribute": {"name": "plan", "op": op, "value": HOSTILE}}
            )
            assert matching_ids(connection, workspace, condition, NOW) == ["eve"]
        condition = condition_from_json(
            {"attribute": {"name": "plan", "op": "IN", "value": [HOSTILE, "x\"]'); --"]}}
        )
        assert matching_ids(connection, workspace, condition, NOW) == ["eve"]
