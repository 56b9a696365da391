"""The journey counters are declared once (domain.counters): the table keeps a column
for each, and the GraphQL type shows each, whatever the journey's status."""

from __future__ import annotations

import dataclasses

from domain.counters import COUNTERS, JourneyCounters
from domain.statuses import Status, holds_customers
from gql.stats.types import JourneyStats
from store.tables import STATS


def test_the_table_keeps_a_column_for_each_counter():
    assert [column.name for column in STATS.c] == [
        "journey_id",
        *COUNTERS,
        "failures_in_a_row",
    ]


def test_the_graphql_type_shows_every_counter_and_nothing_else():
    counters = JourneyCounters(*range(1, len(COUNTERS) + 1))
    shown_values = {getattr(counters, name) for name in COUNTERS}
    for status in Status:
        stats = JourneyStats.of(counters, status)
        values = [getattr(stats, field.name) for field in dataclasses.fields(JourneyStats)]
        assert sorted(v for v in values if v) == sorted(shown_values)
        inside = stats.held if holds_customers(status) else stats.in_flight
        assert inside == counters.inside
