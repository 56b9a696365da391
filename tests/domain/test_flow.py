"""A journey's flow (docs/rules.md, "The flow"): what `checked_flow` refuses at save, each
refusal naming its node, and the straight line of steps a flow may be."""

from __future__ import annotations

import re

import pytest

from domain.conditions import AllOf, AttributeCondition, ConditionOp
from domain.errors import ValidationFailed
from domain.flow import (
    DEFAULT_REENTRY,
    Flow,
    Node,
    NodeType,
    Reentry,
    SplitBranch,
    flow_from_steps,
    steps_of,
)
from domain.flow_checks import MAX_BODY_LENGTH, MAX_NODES, MAX_SUBJECT_LENGTH, checked_flow
from domain.steps import MAX_WAIT_SECONDS, Step, StepType
from tests.domain.flow_builders import IN_MAY, condition, exit_, send, split, wait, wait_for_event

# The seed's example: a birthday offer to customers born in May, then a thank-you after
# a purchase, or a reminder if none comes within 5 days; half of the others get a nudge.
BIRTHDAY = (
    condition("born-in-may", yes="offer", no="ab"),
    send("offer", "await-purchase", subject="Happy birthday", body="Dear {{ customer.name }},\n"),
    wait_for_event("await-purchase", "thanks", "remind", timeout_seconds=5 * 86400),
    send("thanks", "done"),
    send("remind"),
    split("ab", ("nudge", 50, "wait"), ("control", 50, None)),
    wait("wait", "nudge-send", seconds=3600),
    send("nudge-send", "done"),
    exit_("done"),
)


def refusal(nodes: list[Node] | tuple[Node, ...]) -> str:
    with pytest.raises(ValidationFailed) as refused:
        checked_flow(nodes)
    return refused.value.message


def test_a_flow_of_every_type_of_node_is_accepted_as_given():
    flow = checked_flow(BIRTHDAY)
    assert flow.nodes == BIRTHDAY
    assert flow.entry.key == "born-in-may"
    assert flow.node("ab").type is NodeType.SPLIT
    assert "thanks" in flow
    assert flow.get("nowhere") is None
    with pytest.raises(KeyError):
        flow.node("nowhere")


def test_a_customer_may_enter_again_once_out_unless_told_otherwise():
    assert DEFAULT_REENTRY is Reentry.AFTER_EXIT
    assert {rule.value for rule in Reentry} == {"NEVER", "AFTER_EXIT"}


def test_a_target_may_be_null_the_walk_ends_there():
    checked_flow([condition("c")])
    checked_flow([wait_for_event("w")])
    checked_flow([split("s", ("a", 30, None), ("b", 70, None))])


# -- refusals, each naming its node ------------------------------------------------------

A_LOOP = [wait("a", "b"), wait("b", "c"), wait("c", "a")]


@pytest.mark.parametrize(
    ("nodes", "why"),
    [
        # the graph
        (A_LOOP, 'node "a": the flow loops back to it ("a" -> "b" -> "c" -> "a")'),
        ([wait("a", "a")], 'node "a": the flow loops back to it ("a" -> "a")'),
        (
            [condition("c", yes="x", no="x"), wait("x", "c")],
            'node "c": the flow loops back to it ("c" -> "x" -> "c")',
        ),
        ([wait("a", "nowhere")], 'node "a": next names "nowhere", which is not a node'),
        ([condition("c", yes="a", no="b"), exit_("a")], 'node "c": no names "b", which is not'),
        (
            [split("s", ("a", 50, None), ("b", 50, "zz"))],
            'node "s": branch "b"\'s next names "zz", which is not a node of this journey',
        ),
        (
            [wait_for_event("w", on_timeout="zz")],
            'node "w": onTimeout names "zz", which is not a node of this journey',
        ),
        (
            [wait("a"), send("orphan")],
            'node "orphan": no path from the entry (node "a") leads to it',
        ),
        # keys
        (
            [wait("a", "b"), wait("b"), wait("a")],
            'node "a": 2 nodes have this key (nodes 1 and 3 of the list)',
        ),
        ([wait("k" * 41)], f'node "{"k" * 41}": a key is 1 to 40 characters of a-z, 0-9, _ and -'),
        ([wait("remind me")], 'node "remind me": a key is 1 to 40 characters'),
        ([wait("Remind")], 'node "Remind": a key is 1 to 40 characters'),
        ([wait("")], 'node "": a key is 1 to 40 characters'),
        # the flow's size
        ([], "a journey's flow needs at least one node"),
        (
            [wait(str(i), str(i + 1)) for i in range(MAX_NODES)] + [wait(str(MAX_NODES))],
            "a journey has at most 100 nodes, not 101",
        ),
        # SPLIT
        (
            [split("s", ("a", 50, None), ("b", 49, None))],
            'node "s": its branches\' percents add up to 99, not 100',
        ),
        ([split("s", ("a", 100, None))], 'node "s": a SPLIT node needs 2 to 10 branches, not 1'),
        (
            [split("s", *((f"b{i}", 10 if i else 0, None) for i in range(11)))],
            'node "s": a SPLIT node needs 2 to 10 branches, not 11',
        ),
        ([split("s")], 'node "s": a SPLIT node needs 2 to 10 branches, not 0'),
        (
            [split("s", ("a", 50, None), ("a", 50, None))],
            'node "s": branch "a": two branches have this key',
        ),
        (
            [split("s", ("A b", 50, None), ("b", 50, None))],
            'node "s": branch "A b": a key is 1 to 40 characters',
        ),
        (
            [split("s", ("a", 0, None), ("b", 100, None))],
            'node "s": branch "a": percent must be from 1 to 100, not 0',
        ),
        # WAIT
        ([wait("w", seconds=None)], 'node "w": a WAIT node needs seconds (how long to wait'),
        ([wait("w", seconds=0)], 'node "w": seconds must be from 1 to 31622400 (366 days), not 0'),
        ([wait("w", seconds=MAX_WAIT_SECONDS + 1)], 'node "w": seconds must be from 1 to'),
        # SEND
        ([send("s", channel=None)], 'node "s": a SEND node needs a channel (log, webhook or'),
        ([send("s", channel="sms")], 'node "s": unknown channel "sms" (known: log, webhook, e'),
        ([send("s", template=None)], 'node "s": a SEND node needs a template'),
        ([send("s", template="  ")], 'node "s": template must not be blank'),
        ([send("s", template="t" * 201)], 'node "s": template is longer than 200 characters'),
        ([send("s", subject="Hi\nthere")], 'node "s": subject holds a control or invisible'),
        (
            [send("s", subject="s" * (MAX_SUBJECT_LENGTH + 1))],
            'node "s": subject is longer than 1000 characters',
        ),
        ([send("s", body="\n\t ")], 'node "s": body must not be blank'),
        (
            [send("s", body="b" * (MAX_BODY_LENGTH + 1))],
            'node "s": body is longer than 100000 characters',
        ),
        ([send("s", body="a\x00b")], 'node "s": body holds a control or invisible character'),
        # WAIT_FOR_EVENT
        (
            [wait_for_event("w", timeout_seconds=None)],
            'node "w": a WAIT_FOR_EVENT node needs timeoutSeconds (how long to wait for the event',
        ),
        ([wait_for_event("w", timeout_seconds=-5)], 'node "w": timeoutSeconds must be from 1 to'),
        ([wait_for_event("w", event=None)], 'node "w": a WAIT_FOR_EVENT node needs an event'),
        ([wait_for_event("w", event="")], 'node "w": event must not be blank'),
        (
            [wait_for_event("w", where=(AttributeCondition("n", ConditionOp.EXISTS),) * 51)],
            'node "w": where has at most 50 conditions, not 51',
        ),
        # CONDITION
        ([condition("c", condition=None)], 'node "c": a CONDITION node needs a condition'),
        (
            [condition("c", condition=AllOf((IN_MAY,) * 51))],
            'node "c": its condition has more than 50 leaves',
        ),
        # fields that do not belong to the node's type
        ([send("s", seconds=60)], 'node "s": a SEND node takes no seconds (only a WAIT node does)'),
        (
            [wait("w", branches=(SplitBranch("a", 100),))],
            'node "w": a WAIT node takes no branches (only a SPLIT node does)',
        ),
        (
            [condition("c", next="c2"), exit_("c2")],
            'node "c": a CONDITION node takes no next: it goes on by yes and no',
        ),
        (
            [split("s", ("a", 50, None), ("b", 50, None), next="x"), exit_("x")],
            'node "s": a SPLIT node takes no next: each of its branches has its own next',
        ),
        ([exit_("e", next="e2"), exit_("e2")], 'node "e": an EXIT node ends the walk and takes no'),
        (
            [wait("w", yes="w2"), exit_("w2")],
            'node "w": a WAIT node takes no yes (only a CONDITION',
        ),
        ([send("s", event="purchase")], 'node "s": a SEND node takes no event (only a WAIT_FOR_'),
        ([send("s", condition=IN_MAY)], 'node "s": a SEND node takes no condition'),
        (
            [wait_for_event("w", template="t")],
            'node "w": a WAIT_FOR_EVENT node takes no template (only a SEND node does)',
        ),
        (
            [condition("c", where=(IN_MAY,))],
            'node "c": a CONDITION node takes no where (only a WAIT_FOR_EVENT node does)',
        ),
        (
            [exit_("e", timeout_seconds=5)],
            'node "e": an EXIT node takes no timeoutSeconds (only a WAIT_FOR_EVENT node does)',
        ),
    ],
)
def test_a_flow_is_refused_naming_the_node(nodes, why):
    assert why in refusal(nodes)


def test_every_problem_is_reported_at_once():
    message = refusal(
        [
            wait("start", "a"),
            wait("a", "a", seconds=0),
            send("b", channel="sms"),
            split("s", ("x", 60, "nowhere"), ("y", 60, None)),
        ]
    )
    assert message == "; ".join(
        [
            'node "a": seconds must be from 1 to 31622400 (366 days), not 0',
            'node "b": unknown channel "sms" (known: log, webhook, email)',
            'node "s": its branches\' percents add up to 120, not 100',
            'node "s": branch "x"\'s next names "nowhere", which is not a node of this journey',
            'node "a": the flow loops back to it ("a" -> "a"), and a flow may not loop (every '
            "walk must end)",
            'node "b": no path from the entry (node "start") leads to it: link it from another '
            "node, or remove it",
            'node "s": no path from the entry (node "start") leads to it: link it from another '
            "node, or remove it",
        ]
    )


def test_a_loop_among_nodes_no_path_reaches_is_still_named():
    message = refusal([exit_("entry"), wait("x", "y"), wait("y", "x")])
    assert 'node "x": the flow loops back to it ("x" -> "y" -> "x")' in message


def test_a_flow_may_join_again_after_it_branches():
    # Two ways to the same node is no loop.
    checked_flow(
        [condition("c", yes="a", no="b"), wait("a", "end"), send("b", "end"), exit_("end")]
    )


def test_a_key_that_cannot_be_shown_is_escaped_and_cut():
    message = refusal([wait("bad\x1b[31mkey" + "x" * 100)])
    assert message.startswith('node "bad\\x1b[31mkey' + "x" * 49 + '...": a key is')


def test_the_limits_are_those_the_draft_documents():
    assert (MAX_NODES, MAX_SUBJECT_LENGTH, MAX_BODY_LENGTH) == (100, 1_000, 100_000)


def test_a_flow_of_100_nodes_and_a_key_of_40_characters_are_accepted():
    checked_flow([wait(str(i), str(i + 1)) for i in range(MAX_NODES - 1)] + [exit_("99")])
    checked_flow([wait("k" * 40, "a_b-9"), exit_("a_b-9")])


def test_a_body_may_span_lines_and_be_long():
    body = "Hello {{ customer.first_name }},\r\n\n\tThank you.\n" + "x" * (MAX_BODY_LENGTH - 60)
    checked_flow([send("s", subject="Your order", body=body)])


def test_a_split_may_have_ten_branches():
    checked_flow([split("s", *((f"b{i}", 10, None) for i in range(10)))])


# -- straight lines ----------------------------------------------------------------------

WAIT = Step(StepType.WAIT, seconds=60)
SEND = Step(StepType.SEND, channel="log", template="welcome")


def test_steps_become_a_straight_line_keyed_by_number():
    flow = flow_from_steps([WAIT, SEND, WAIT])
    assert flow == Flow(
        (
            Node("1", NodeType.WAIT, next="2", seconds=60),
            Node("2", NodeType.SEND, next="3", channel="log", template="welcome"),
            Node("3", NodeType.WAIT, seconds=60),
        )
    )
    assert checked_flow(flow.nodes) == flow


def test_a_straight_line_shows_as_its_steps():
    assert steps_of(flow_from_steps([WAIT, SEND])) == (WAIT, SEND)
    assert steps_of(flow_from_steps([])) == ()


def test_a_draft_step_left_incomplete_keeps_its_gaps():
    draft = (Step(StepType.WAIT), Step(StepType.SEND, channel="log"))
    assert steps_of(flow_from_steps(draft)) == draft


@pytest.mark.parametrize(
    "nodes",
    [
        BIRTHDAY,
        (wait("1", "2"), exit_("2")),
        (wait("a", "b"), send("b")),  # straight, but its keys would be lost
        (wait("1", "2"), send("2", subject="Hi")),  # straight, but steps have no subject
        (send("1", body="Hi"),),
        (send("2", "1"), wait("1")),  # walked in another order than listed
        (wait("1"), send("2")),  # the second is not reached
    ],
)
def test_a_flow_that_is_not_exactly_a_straight_line_shows_no_steps(nodes):
    assert steps_of(Flow(nodes)) is None


def test_a_node_names_its_targets_in_the_api_s_words():
    node = wait_for_event("w", "a", "b")
    assert list(node.targets()) == [("next", "a"), ("onTimeout", "b")]
    assert list(condition("c", yes="y").targets()) == [("yes", "y"), ("no", None)]
    assert list(split("s", ("x", 50, "a"), ("y", 50, None)).successors()) == ["a"]
    assert re.fullmatch(r"branch \"x\"'s next", next(split("s", ("x", 1, "a")).targets())[0])
