"""What the fan-out reads off a subscription document: which variable is `after`."""

from __future__ import annotations

from gql.live.shape import Shape, subscription_shape

WATCH = """
subscription Watch($journeyId: ID, $after: Int) {
  statusChanged(journeyId: $journeyId, after: $after) { sequence }
}"""


def test_a_variable_used_only_as_after_is_left_out_of_the_key():
    shape = subscription_shape(WATCH, None)
    assert shape == Shape(after_variable="after", takes_after=True)
    one = shape.key_variables({"journeyId": "j1", "after": 5})
    other = shape.key_variables({"journeyId": "j1", "after": 900})
    assert one == other == shape.key_variables({"journeyId": "j1"})
    assert one != shape.key_variables({"journeyId": "j2", "after": 5})
    assert shape.replays({"after": 0}) and not shape.replays({"after": None})
    assert not shape.replays({})


def test_a_variable_also_used_elsewhere_stays_in_the_key():
    query = """
    subscription($n: Int) {
      statusChanged(after: $n) { sequence journey { history(first: $n) { sequence } } }
    }"""
    shape = subscription_shape(query, None)
    assert shape == Shape(after_variable=None, takes_after=True)
    assert shape.key_variables({"n": 1}) != shape.key_variables({"n": 2})
    assert shape.replays({"n": 1})


def test_a_literal_after_always_replays():
    shape = subscription_shape("subscription { statusChanged(after: 3) { sequence } }", None)
    assert shape == Shape(after_variable=None, takes_after=True)
    assert shape.replays({})


def test_counts_take_no_after():
    shape = subscription_shape("subscription { statusCountsChanged { status count } }", None)
    assert shape == Shape(after_variable=None, takes_after=False)
    assert not shape.replays({})


def test_queries_mutations_and_unparsable_documents_are_not_for_the_fan_out():
    assert subscription_shape("{ viewer { workspace } }", None) is None
    assert subscription_shape("mutation { deleteJourney(id: 1) }", None) is None
    assert subscription_shape("subscription {", None) is None
    two = "subscription A { statusChanged { sequence } } query B { viewer { role } }"
    assert subscription_shape(two, "B") is None
    assert subscription_shape(two, "A") == Shape(after_variable=None, takes_after=False)
    assert subscription_shape(two, None) is None  # ambiguous: Strawberry reports it
