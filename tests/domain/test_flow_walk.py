"""How customers walk a flow (docs/rules.md, "The flow"): what applying each type of node does,
the SPLIT's buckets, and what a new version changes for the customers inside."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from domain.conditions import AttributeCondition, ConditionOp
from domain.flow import Flow, NodeType
from domain.flow_checks import checked_flow
from domain.flow_walk import (
    EventCame,
    Everyone,
    InBuckets,
    Matching,
    Message,
    Outcome,
    apply_node,
    due_again,
    due_at,
    nodes_removed,
    release,
    split_branch,
    split_bucket,
)
from tests.domain.flow_builders import IN_MAY, condition, exit_, send, split, wait, wait_for_event

NOW = datetime(2030, 5, 14, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
BIG_SPENDER = (AttributeCondition("total", ConditionOp.AT_LEAST, 100),)

FLOW = checked_flow(
    [
        condition("born-in-may", yes="offer", no="ab"),
        send("offer", "await", subject="Happy birthday", body="Hi {{ customer.name }}"),
        wait_for_event("await", "thanks", "remind", timeout_seconds=5 * 86400, where=BIG_SPENDER),
        wait("thanks", "bye", seconds=3600),
        send("remind"),
        split("ab", ("a", 30, "bye"), ("b", 70, None)),
        exit_("bye"),
    ]
)


# -- when a customer is due at a node ------------------------------------------------------


def test_a_wait_is_due_its_seconds_after_it_is_reached():
    assert due_at(FLOW.node("thanks"), NOW) == NOW + HOUR


def test_a_wait_for_an_event_is_due_when_it_times_out():
    assert due_at(FLOW.node("await"), NOW) == NOW + timedelta(days=5)


@pytest.mark.parametrize("key", ["born-in-may", "offer", "remind", "ab", "bye"])
def test_every_other_node_is_due_as_soon_as_it_is_reached(key):
    assert due_at(FLOW.node(key), NOW) == NOW


# -- applying a node ------------------------------------------------------------------------


def test_a_wait_moves_everyone_on_and_the_next_node_is_due_from_now():
    assert apply_node(FLOW, "thanks", NOW) == (Outcome(Everyone(), "bye", NOW),)


def test_a_send_queues_its_message_and_moves_on():
    [outcome] = apply_node(FLOW, "offer", NOW)
    assert outcome.message == Message("log", "welcome", "Happy birthday", "Hi {{ customer.name }}")
    # The next node waits for an event: they are due there when it times out.
    assert (outcome.who, outcome.target, outcome.due_at) == (
        Everyone(),
        "await",
        NOW + timedelta(days=5),
    )


def test_a_send_with_no_next_ends_the_walk_in_the_same_move():
    [outcome] = apply_node(FLOW, "remind", NOW)
    assert outcome.ends and outcome.due_at is None and outcome.message is not None


def test_an_exit_ends_everyones_walk():
    assert apply_node(FLOW, "bye", NOW) == (Outcome(Everyone(), None, None),)


def test_a_condition_sends_who_meets_it_to_yes_and_the_others_to_no():
    assert apply_node(FLOW, "born-in-may", NOW) == (
        Outcome(Matching(IN_MAY, meets=True), "offer", NOW, "yes"),
        Outcome(Matching(IN_MAY, meets=False), "ab", NOW, "no"),
    )


def test_a_split_has_an_outcome_for_each_branch_by_its_buckets():
    assert apply_node(FLOW, "ab", NOW) == (
        Outcome(InBuckets(0, 30), "bye", NOW, "a"),
        Outcome(InBuckets(30, 100), None, None, "b"),
    )


def test_a_wait_for_an_event_due_sends_whose_event_came_to_next_and_the_others_on_timeout():
    assert apply_node(FLOW, "await", NOW) == (
        Outcome(EventCame("purchase", BIG_SPENDER, came=True), "thanks", NOW + HOUR, "event"),
        Outcome(EventCame("purchase", BIG_SPENDER, came=False), "remind", NOW, "timeout"),
    )


def test_an_event_releases_a_waiting_customer_to_next():
    assert release(FLOW, "await", NOW) == apply_node(FLOW, "await", NOW)[0]


def test_a_null_target_ends_the_walk_for_that_outcome():
    flow = checked_flow([wait_for_event("w")])
    assert [outcome.ends for outcome in apply_node(flow, "w", NOW)] == [True, True]


def test_applying_a_node_the_flow_does_not_have_is_a_key_error():
    with pytest.raises(KeyError):
        apply_node(FLOW, "gone", NOW)


# -- split buckets ----------------------------------------------------------------------


def test_a_bucket_is_the_documented_md5_reading():
    digest = hashlib.md5(b"journey-1:customer-1:ab").hexdigest()
    assert split_bucket("journey-1", "customer-1", "ab") == int(digest[:8], 16) % 100
    # Pinned, so a change of the formula (which SQL repeats) cannot pass unnoticed;
    # PostgreSQL's ('x' || substr(md5(...), 1, 8))::bit(32)::bigint % 100 gives the same.
    assert [split_bucket("j1", f"c{i}", "ab") for i in range(8)] == [7, 40, 62, 87, 32, 28, 63, 88]


def test_a_bucket_depends_on_the_journey_the_customer_and_the_node():
    # Another journey, customer or node draws again: an A/B test in one journey says
    # nothing about the customer's branch in another.
    assert split_bucket("j", "c", "s") == 28
    assert [split_bucket("j2", "c", "s"), split_bucket("j", "c2", "s")] == [72, 79]
    assert split_bucket("j", "c", "s2") == 75


def test_buckets_spread_customers_evenly():
    buckets = [split_bucket("journey-1", f"customer-{i}", "ab") for i in range(10_000)]
    halves = Counter(bucket < 50 for bucket in buckets)
    assert abs(halves[True] - 5_000) < 200  # within 2 points of 50/50
    per_bucket = Counter(buckets)
    assert len(per_bucket) == 100 and max(per_bucket.values()) < 150


def test_a_split_branch_is_chosen_by_cumulative_percents_in_branch_order():
    node = split("s", ("a", 10, None), ("b", 60, None), ("c", 30, None))
    assert [split_branch(node, bucket).key for bucket in (0, 9, 10, 69, 70, 99)] == list("aabbcc")
    with pytest.raises(ValueError):
        split_branch(node, 100)


# -- a new version ------------------------------------------------------------------------


def test_a_new_version_says_which_nodes_are_gone_and_whose_due_time_counts_again():
    new = Flow(
        (
            condition("born-in-may", yes="offer", no="ab"),
            wait("offer", "bye"),  # was a SEND
            wait_for_event("await", "thanks", "remind", timeout_seconds=86400),  # was 5 days
            wait("thanks", "bye", seconds=3600),  # as it was
            split("ab", ("a", 50, None), ("b", 50, None)),
            exit_("bye"),
            send("new"),
        )
    )
    assert nodes_removed(FLOW, new) == ["remind"]
    assert due_again(FLOW, new) == ["offer", "await"]
    assert nodes_removed(FLOW, FLOW) == [] and due_again(FLOW, FLOW) == []
    assert new.node("offer").type is NodeType.WAIT
