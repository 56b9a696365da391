"""A journey's flow: the nodes a customer walks, with branches (docs/rules.md, "The flow").

A flow is a list of nodes; the first is the entry. Each node has a key (unique
in the journey) and a type, and names the nodes it leads to by their keys:

- WAIT `seconds`, then `next`;
- SEND a message (`channel`, `template`, `subject`, `body`), then `next`;
- WAIT_FOR_EVENT `event` (matching `where`): `next` when it comes, `onTimeout`
  after `timeoutSeconds` without it;
- CONDITION `condition`: `yes` or `no`;
- SPLIT: one of its `branches`, each taking a share (`percent`) of customers;
- EXIT ends the walk.

A target that is None ends the walk there. The rules a flow must meet to be
saved are in `domain.flow_checks`; how its nodes move customers, in
`domain.flow_walk`. The straight line of steps that journeys had before
nodes is a flow too (`flow_from_steps`), and a flow that is one still shows
as steps (`steps_of`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from domain.conditions import AttributeCondition, Condition
from domain.steps import Step, StepType


class NodeType(StrEnum):
    WAIT = "WAIT"
    SEND = "SEND"
    WAIT_FOR_EVENT = "WAIT_FOR_EVENT"
    CONDITION = "CONDITION"
    SPLIT = "SPLIT"
    EXIT = "EXIT"


class Reentry(StrEnum):
    """Whether a customer who has been through a journey may enter it again."""

    NEVER = "NEVER"
    AFTER_EXIT = "AFTER_EXIT"  # again, once out of it (never twice at the same time)


DEFAULT_REENTRY = Reentry.AFTER_EXIT


@dataclass(frozen=True)
class SplitBranch:
    """One way out of a SPLIT: `percent` of the customers who reach it go to `next`."""

    key: str
    percent: int
    next: str | None = None


@dataclass(frozen=True)
class Node:
    """One node of a flow. Only the fields of its type are set (the checks refuse the
    others); the field names are the API's, in snake case."""

    key: str
    type: NodeType
    next: str | None = None
    # WAIT
    seconds: int | None = None
    # SEND
    channel: str | None = None
    template: str | None = None
    subject: str | None = None
    body: str | None = None
    # WAIT_FOR_EVENT
    event: str | None = None
    where: tuple[AttributeCondition, ...] = ()
    timeout_seconds: int | None = None
    on_timeout: str | None = None
    # CONDITION
    condition: Condition | None = None
    yes: str | None = None
    no: str | None = None
    # SPLIT
    branches: tuple[SplitBranch, ...] = ()

    def targets(self) -> Iterator[tuple[str, str | None]]:
        """Each way out of this node that is set or belongs to its type, as (the place
        in the API's words, the key it names or None)."""
        for place, target in (
            ("next", self.next),
            ("yes", self.yes),
            ("no", self.no),
            ("onTimeout", self.on_timeout),
        ):
            if target is not None or place in OWN_TARGETS[self.type]:
                yield place, target
        for branch in self.branches:
            yield f"branch {quoted(branch.key)}'s next", branch.next

    def successors(self) -> Iterator[str]:
        """The keys this node leads to (with repeats, in the order of `targets`)."""
        return (target for _, target in self.targets() if target is not None)


def quoted(key: str) -> str:
    """A key as a message shows it: in double quotes, with anything unprintable escaped
    and a long one cut (a key the checks refuse may be anything)."""
    shown = key if len(key) <= 60 else key[:60] + "..."
    if not shown.isprintable():
        shown = shown.encode("unicode_escape").decode("ascii")
    return f'"{shown}"'


# The ways out each type has (a SPLIT's are its branches).
OWN_TARGETS: dict[NodeType, tuple[str, ...]] = {
    NodeType.WAIT: ("next",),
    NodeType.SEND: ("next",),
    NodeType.WAIT_FOR_EVENT: ("next", "onTimeout"),
    NodeType.CONDITION: ("yes", "no"),
    NodeType.SPLIT: (),
    NodeType.EXIT: (),
}


@dataclass(frozen=True)
class Flow:
    """The nodes of one version of a journey, in the order they were given; the first
    is the entry. `domain.flow_checks.checked_flow` makes one that meets the rules."""

    nodes: tuple[Node, ...]

    @property
    def entry(self) -> Node:
        return self.nodes[0]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(node.key for node in self.nodes)

    @property
    def wait_events(self) -> list[str]:
        """The events its WAIT_FOR_EVENT nodes wait for, each once, sorted."""
        return sorted(
            {
                node.event
                for node in self.nodes
                if node.type is NodeType.WAIT_FOR_EVENT and node.event
            }
        )

    def waiting_for(self, event: str) -> list[Node]:
        """Its WAIT_FOR_EVENT nodes that wait for `event`."""
        return [
            node
            for node in self.nodes
            if node.type is NodeType.WAIT_FOR_EVENT and node.event == event
        ]

    @cached_property
    def _by_key(self) -> dict[str, Node]:
        # The first of any nodes sharing a key (a checked flow has none).
        found: dict[str, Node] = {}
        for node in self.nodes:
            found.setdefault(node.key, node)
        return found

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def node(self, key: str) -> Node:
        """The node of that key, or KeyError."""
        return self._by_key[key]

    def get(self, key: str) -> Node | None:
        return self._by_key.get(key)


# -- straight lines: the steps journeys had before nodes ---------------------------------

_NODE_TYPE_OF_STEP = {StepType.WAIT: NodeType.WAIT, StepType.SEND: NodeType.SEND}
_STEP_TYPE_OF_NODE = {node_type: step_type for step_type, node_type in _NODE_TYPE_OF_STEP.items()}


def step_key(index: int) -> str:
    """The key of the `index`-th step (from 0) of a straight line: "1", "2", ..."""
    return str(index + 1)


def flow_from_steps(steps: Sequence[Step]) -> Flow:
    """The straight line of `steps` as a flow: keys "1", "2", ..., each node's next the
    following one, the last one's None. A step left incomplete in a draft stays so."""
    last = len(steps) - 1
    return Flow(
        tuple(
            Node(
                key=step_key(index),
                type=_NODE_TYPE_OF_STEP[step.type],
                next=None if index == last else step_key(index + 1),
                seconds=step.seconds,
                channel=step.channel,
                template=step.template,
            )
            for index, step in enumerate(steps)
        )
    )


def steps_of(flow: Flow) -> tuple[Step, ...] | None:
    """The flow as a straight line of steps, or None when it is not exactly one.

    Exactly: `flow_from_steps` of the answer gives the flow back, so steps shown
    and sent back unchanged change nothing (no key renamed, no subject or body
    lost). A flow that branches, has another type of node, keys other than
    "1", "2", ... or nodes out of their walking order is not a straight line.
    """
    steps = []
    for node in flow.nodes:
        step = step_of(node)
        if step is None:
            return None
        steps.append(step)
    line = tuple(steps)
    return line if flow_from_steps(line) == flow else None


def step_of(node: Node) -> Step | None:
    """The node as a step (its type, seconds, channel and template), or None when its
    type is not a step's."""
    step_type = _STEP_TYPE_OF_NODE.get(node.type)
    if step_type is None:
        return None
    return Step(step_type, node.seconds, node.channel, node.template)


# The types whose nodes lead more than one way.
BRANCHING = (NodeType.WAIT_FOR_EVENT, NodeType.CONDITION, NodeType.SPLIT)


def why_not_steps(flow: Flow) -> str | None:
    """Why the flow is not a straight line of steps (`steps_of` gives None), naming
    the first node that makes it so, in words that follow "this journey's flow";
    None when it is one."""
    for position, node in enumerate(flow.nodes):
        article = "an" if node.type[0] in "AEIOU" else "a"
        if node.type in BRANCHING:
            return f"branches (node {quoted(node.key)} is {article} {node.type})"
        if node.type not in _STEP_TYPE_OF_NODE:
            return f"has {article} {node.type} node ({quoted(node.key)})"
        if node.subject is not None or node.body is not None:
            return f"sends a subject or a body (node {quoted(node.key)}), which steps do not"
        if node.key != step_key(position):
            return (
                f"has node {quoted(node.key)} in place {position + 1}, where a straight "
                f'line of steps has key "{step_key(position)}"'
            )
        following = step_key(position + 1) if position + 1 < len(flow.nodes) else None
        if node.next != following:
            went = quoted(node.next) if node.next is not None else "the end"
            expected = "the node after it" if following is not None else "the end"
            return f"goes from node {quoted(node.key)} to {went}, not to {expected}"
    return None if steps_of(flow) is not None else "is not a straight line of steps"
