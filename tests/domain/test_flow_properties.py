"""Property tests of the flow: random valid flows are accepted, a loop added to one is
refused naming a node on it, straight lines round-trip, and a SPLIT's buckets go to
its branches in proportion to their percents, exactly.

A random valid flow is drawn in walking order: each node after the entry hangs off
an earlier one (so every node is reachable), and any other target of a node is
None or a node after it (so nothing loops). The oracles below read the graph on
their own, not through domain.flow_checks.
"""

from __future__ import annotations

import itertools
import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.channels import CHANNELS
from domain.content import Content, JourneyKind, readiness_problems
from domain.errors import ValidationFailed
from domain.flow import Node, NodeType, SplitBranch, flow_from_steps, steps_of
from domain.flow_checks import MAX_BRANCHES, checked_flow
from domain.flow_walk import InBuckets, apply_node, split_branch
from domain.steps import MAX_WAIT_SECONDS, Step, StepType
from tests.domain.flow_builders import IN_MAY

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2030, 5, 14, 12, 0, tzinfo=UTC)
N = NodeType

# Any key the rules accept (st.text is far quicker to draw from than st.from_regex).
keys = st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=40)
seconds = st.integers(1, MAX_WAIT_SECONDS)


def percents(draw: Callable[[Any], Any], count: int) -> list[int]:
    """`count` whole percents of at least 1 that add up to 100."""
    cuts = sorted(draw(st.sets(st.integers(1, 99), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, 100]
    return [high - low for low, high in itertools.pairwise(bounds)]


def types_for(children: int) -> list[NodeType]:
    """The types of node that have room for this many ways out."""
    if children == 0:
        return list(NodeType)
    if children == 1:
        return [N.WAIT, N.SEND, N.WAIT_FOR_EVENT, N.CONDITION, N.SPLIT]
    if children == 2:
        return [N.WAIT_FOR_EVENT, N.CONDITION, N.SPLIT]
    return [N.SPLIT]


def node_of(
    draw: Callable[[Any], Any], key: str, kind: NodeType, targets: list[str | None]
) -> Node:
    if kind is N.WAIT:
        return Node(key, kind, next=targets[0], seconds=draw(seconds))
    if kind is N.SEND:
        channel = draw(st.sampled_from(CHANNELS))
        return Node(key, kind, next=targets[0], channel=channel, template="welcome")
    if kind is N.WAIT_FOR_EVENT:
        return Node(
            key,
            kind,
            next=targets[0],
            on_timeout=targets[1],
            event="purchase",
            timeout_seconds=draw(seconds),
        )
    if kind is N.CONDITION:
        return Node(key, kind, condition=IN_MAY, yes=targets[0], no=targets[1])
    if kind is N.SPLIT:
        shares = percents(draw, len(targets))
        branches = tuple(
            SplitBranch(f"b{i}", share, target)
            for i, (share, target) in enumerate(zip(shares, targets, strict=True))
        )
        return Node(key, kind, branches=branches)
    return Node(key, kind)


@st.composite
def valid_flows(draw: Callable[[Any], Any]) -> list[Node]:
    count = draw(st.integers(1, 20))
    names = draw(st.lists(keys, min_size=count, max_size=count, unique=True))
    children: list[list[int]] = [[] for _ in range(count)]
    for index in range(1, count):
        roomy = [parent for parent in range(index) if len(children[parent]) < MAX_BRANCHES]
        children[draw(st.sampled_from(roomy))].append(index)
    nodes = []
    for index, kids in enumerate(children):
        kind = draw(st.sampled_from(types_for(len(kids))))
        ways = {N.WAIT: 1, N.SEND: 1, N.WAIT_FOR_EVENT: 2, N.CONDITION: 2, N.EXIT: 0}.get(kind)
        if ways is None:  # a SPLIT: as many branches as it likes, at least its children
            ways = draw(st.integers(max(2, len(kids)), MAX_BRANCHES))
        later = st.none() | st.integers(index + 1, count - 1) if index + 1 < count else st.none()
        slots = kids + [draw(later) for _ in range(ways - len(kids))]
        order = draw(st.permutations(slots))
        targets = [None if slot is None else names[slot] for slot in order]
        nodes.append(node_of(draw, names[index], kind, targets))
    return nodes


def graph_of(nodes: list[Node]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in nodes:
        ways = {node.next, node.yes, node.no, node.on_timeout}
        ways |= {branch.next for branch in node.branches}
        found[node.key] = {way for way in ways if way is not None}
    return found


def reached_from(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every node one or more steps from `start`."""
    seen: set[str] = set()
    frontier = list(graph[start])
    while frontier:
        key = frontier.pop()
        if key not in seen:
            seen.add(key)
            frontier.extend(graph[key])
    return seen


@SETTINGS
@given(valid_flows())
def test_a_random_valid_flow_is_accepted_and_walks_by_its_own_ways_out(nodes):
    # One test for several properties: generating flows is the costly part.
    flow = checked_flow(nodes)
    assert flow.nodes == tuple(nodes)
    # What is shown as steps gives the flow back exactly, or there are none.
    steps = steps_of(flow)
    assert steps is None or flow_from_steps(steps) == flow
    # A flow the rules accept has no incomplete step to stop it going live.
    assert step_problems_of(Content(nodes=flow.nodes)) == []
    graph = graph_of(nodes)
    for node in nodes:
        outcomes = apply_node(flow, node.key, NOW)
        assert {o.target for o in outcomes if o.target is not None} <= graph[node.key]
        assert all((o.target is None) == (o.due_at is None) for o in outcomes)
        if node.type is N.SPLIT:
            # Each bucket goes one way.
            ranges = [o.who for o in outcomes if isinstance(o.who, InBuckets)]
            buckets = [bucket for who in ranges for bucket in range(who.low, who.high)]
            assert sorted(buckets) == list(range(100))


@st.composite
def flows_with_a_loop(draw: Callable[[Any], Any]) -> list[Node]:
    """A valid flow with one way out of a node turned back to it or to a node before it
    on a path to it: a back edge."""
    nodes = draw(valid_flows())
    graph = graph_of(nodes)
    movable = [index for index, node in enumerate(nodes) if node.type is not N.EXIT]
    assume(movable)
    index = draw(st.sampled_from(movable))
    node = nodes[index]
    back_to = draw(
        st.sampled_from(
            [
                other.key
                for other in nodes
                if other.key == node.key or node.key in reached_from(graph, other.key)
            ]
        )
    )
    if node.type in (N.WAIT, N.SEND):
        looped = replace(node, next=back_to)
    elif node.type is N.WAIT_FOR_EVENT:
        looped = replace(node, **{draw(st.sampled_from(["next", "on_timeout"])): back_to})
    elif node.type is N.CONDITION:
        looped = replace(node, **{draw(st.sampled_from(["yes", "no"])): back_to})
    else:
        which = draw(st.integers(0, len(node.branches) - 1))
        branches = list(node.branches)
        branches[which] = replace(branches[which], next=back_to)
        looped = replace(node, branches=tuple(branches))
    return [*nodes[:index], looped, *nodes[index + 1 :]]


LOOP = re.compile(r'node "([^"]*)": the flow loops back to it \(([^)]*)\)')


@SETTINGS
@given(flows_with_a_loop())
def test_a_loop_added_to_a_valid_flow_is_refused_naming_a_node_on_it(nodes):
    message = ""
    try:
        checked_flow(nodes)
    except ValidationFailed as refused:
        message = refused.message
    named = LOOP.findall(message)
    assert named, f"a flow with a loop was not refused for it: {message or 'accepted'}"
    graph = graph_of(nodes)
    for key, path in named:
        # The node is on a loop, and the loop shown is made of real ways out.
        assert key in reached_from(graph, key)
        shown = [part.strip('"') for part in path.split(" -> ")]
        assert shown[0] == shown[-1] == key
        assert all(after in graph[before] for before, after in itertools.pairwise(shown))


steps = st.lists(
    st.one_of(
        st.builds(Step, st.just(StepType.WAIT), seconds=st.none() | seconds),
        st.builds(
            Step,
            st.just(StepType.SEND),
            channel=st.none() | st.sampled_from(CHANNELS),
            template=st.none() | st.text(min_size=1, max_size=20),
        ),
    ),
    max_size=30,
)


@SETTINGS
@given(steps)
def test_a_straight_line_of_steps_round_trips(line):
    flow = flow_from_steps(line)
    assert steps_of(flow) == tuple(line)
    assert flow.keys == tuple(str(i) for i in range(1, len(line) + 1))
    # Readiness names each incomplete step by its place in the line.
    incomplete = [(n, step.incompleteness()) for n, step in enumerate(line, start=1)]
    expected = [f"step {n}: {why}" for n, why in incomplete if why]
    assert step_problems_of(Content(nodes=flow.nodes)) == expected


def step_problems_of(content: Content) -> list[str]:
    return [
        p
        for p in readiness_problems(JourneyKind.SEGMENT_SCHEDULED, content)
        if p.startswith("step ")
    ]


@SETTINGS
@given(st.data())
def test_each_branch_gets_exactly_its_percent_of_the_buckets(data):
    count = data.draw(st.integers(2, MAX_BRANCHES))
    shares = percents(data.draw, count)
    node = Node(
        "s",
        N.SPLIT,
        branches=tuple(SplitBranch(f"b{i}", share) for i, share in enumerate(shares)),
    )
    checked_flow([node])
    taken = Counter(split_branch(node, bucket).key for bucket in range(100))
    assert taken == {branch.key: branch.percent for branch in node.branches}
