"""The rules a journey's flow meets to be saved (docs/rules.md, "The flow": "The checks at save").

`checked_flow` refuses a flow with every problem found, each naming its node
(`node "remind": seconds must be ...`), in sentences a marketer can act on:

- the flow: 1 to 100 nodes;
- keys: 1 to 40 of `a-z 0-9 _ -`, each node's its own;
- each node: the fields of its type and no others, each within its limits;
- ways out: each target names a node of the journey (or is None: the walk
  ends there), no path leads back to a node it left (a node naming itself
  included), and a path from the entry reaches every node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from domain.channels import CHANNELS
from domain.conditions import MAX_LEAVES, count_leaves
from domain.customers import MAX_EVENT_NAME_LENGTH
from domain.errors import ValidationFailed
from domain.flow import Flow, Node, NodeType, SplitBranch, quoted
from domain.steps import MAX_WAIT_SECONDS
from domain.templates import template_problem
from domain.text import MAX_TEXT_LENGTH, has_unreadable_characters, text_problem

MAX_NODES = 100
MAX_KEY_LENGTH = 40
KEY = re.compile(rf"[a-z0-9_-]{{1,{MAX_KEY_LENGTH}}}")
MIN_BRANCHES = 2
MAX_BRANCHES = 10
# A subject is one line; an email client shows far less of it than this.
MAX_SUBJECT_LENGTH = 1_000
# A body is a whole message (an HTML email's markup included), many lines long.
MAX_BODY_LENGTH = 100_000

_WAIT_RANGE = f"from 1 to {MAX_WAIT_SECONDS} (366 days)"
_KEY_RULE = f'a key is 1 to {MAX_KEY_LENGTH} characters of a-z, 0-9, _ and - (such as "remind-1")'

# Each field a node may have: its attribute, its name in the API, the types that take it.
_FIELDS: tuple[tuple[str, str, tuple[NodeType, ...]], ...] = (
    ("next", "next", (NodeType.WAIT, NodeType.SEND, NodeType.WAIT_FOR_EVENT)),
    ("seconds", "seconds", (NodeType.WAIT,)),
    ("channel", "channel", (NodeType.SEND,)),
    ("template", "template", (NodeType.SEND,)),
    ("subject", "subject", (NodeType.SEND,)),
    ("body", "body", (NodeType.SEND,)),
    ("event", "event", (NodeType.WAIT_FOR_EVENT,)),
    ("where", "where", (NodeType.WAIT_FOR_EVENT,)),
    ("timeout_seconds", "timeoutSeconds", (NodeType.WAIT_FOR_EVENT,)),
    ("on_timeout", "onTimeout", (NodeType.WAIT_FOR_EVENT,)),
    ("condition", "condition", (NodeType.CONDITION,)),
    ("yes", "yes", (NodeType.CONDITION,)),
    ("no", "no", (NodeType.CONDITION,)),
    ("branches", "branches", (NodeType.SPLIT,)),
)
# Why a node that moves on by other ways takes no `next`.
_NO_NEXT = {
    NodeType.CONDITION: "a CONDITION node takes no next: it goes on by yes and no",
    NodeType.SPLIT: "a SPLIT node takes no next: each of its branches has its own next",
    NodeType.EXIT: "an EXIT node ends the walk and takes no next",
}


def checked_flow(nodes: Sequence[Node]) -> Flow:
    """The flow of these nodes, or ValidationFailed naming every problem."""
    problems = flow_problems(nodes)
    if problems:
        raise ValidationFailed("; ".join(problems))
    return Flow(tuple(nodes))


def flow_problems(nodes: Sequence[Node]) -> list[str]:
    """Every way these nodes break the rules, node by node, then the graph's."""
    if not nodes:
        return ["a journey's flow needs at least one node"]
    if len(nodes) > MAX_NODES:
        # Nothing more: a list that long is a mistake, and its problems would drown this one.
        return [f"a journey has at most {MAX_NODES} nodes, not {len(nodes)}"]
    flow = Flow(tuple(nodes))
    problems = _key_problems(nodes)
    for node in nodes:
        problems += [f"node {quoted(node.key)}: {problem}" for problem in node_problems(node)]
        problems += [
            f"node {quoted(node.key)}: {place} names {quoted(target)}, which is not a node "
            "of this journey"
            for place, target in node.targets()
            if target is not None and target not in flow
        ]
    return problems + _graph_problems(flow)


def _key_problems(nodes: Sequence[Node]) -> list[str]:
    problems = []
    positions: dict[str, list[int]] = {}
    for position, node in enumerate(nodes, start=1):
        positions.setdefault(node.key, []).append(position)
        if not KEY.fullmatch(node.key):
            problems.append(f"node {quoted(node.key)}: {_KEY_RULE}")
    for key, found in positions.items():
        if len(found) > 1:
            problems.append(
                f"node {quoted(key)}: {len(found)} nodes have this key (nodes "
                f"{_listed(str(position) for position in found)} of the list), and each node "
                "needs a key of its own"
            )
    return problems


def _listed(items: Iterable[str], conjunction: str = "and") -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


# -- one node ------------------------------------------------------------------------------


def node_problems(node: Node) -> list[str]:
    """What is wrong with this node on its own (its targets aside), in sentences that
    follow `node "key": `."""
    problems = [_foreign_field(node, name, owners) for name, owners in _foreign_fields(node)]
    kind = node.type
    if kind is NodeType.WAIT:
        problems += _seconds_problems(kind, "seconds", node.seconds, "how long to wait")
    elif kind is NodeType.SEND:
        problems += _send_problems(node)
    elif kind is NodeType.WAIT_FOR_EVENT:
        problems += _wait_for_event_problems(node)
    elif kind is NodeType.CONDITION:
        if node.condition is None:
            problems.append("a CONDITION node needs a condition")
        elif count_leaves(node.condition) > MAX_LEAVES:
            problems.append(f"its condition has more than {MAX_LEAVES} leaves")
    elif kind is NodeType.SPLIT:
        problems += _split_problems(node.branches)
    return problems


def _foreign_fields(node: Node) -> Iterable[tuple[str, tuple[NodeType, ...]]]:
    for attribute, name, owners in _FIELDS:
        value = getattr(node, attribute)
        if node.type not in owners and value is not None and value != ():
            yield name, owners


def _foreign_field(node: Node, name: str, owners: tuple[NodeType, ...]) -> str:
    if name == "next" and node.type in _NO_NEXT:
        return _NO_NEXT[node.type]
    takers = _listed((f"{_a(owner)} {owner} node" for owner in owners), "or")
    return f"{_a(node.type)} {node.type} node takes no {name} (only {takers} does)"


def _a(node_type: NodeType) -> str:
    return "an" if node_type[0] in "AEIOU" else "a"


def _seconds_problems(
    node_type: NodeType, name: str, seconds: int | None, meaning: str
) -> list[str]:
    if seconds is None:
        return [f"{_a(node_type)} {node_type} node needs {name} ({meaning}, {_WAIT_RANGE})"]
    if not 1 <= seconds <= MAX_WAIT_SECONDS:
        return [f"{name} must be {_WAIT_RANGE}, not {seconds}"]
    return []


def _send_problems(node: Node) -> list[str]:
    problems = []
    if node.channel is None:
        problems.append(f"a SEND node needs a channel ({_listed(CHANNELS, 'or')})")
    elif node.channel not in CHANNELS:
        problems.append(f"unknown channel {quoted(node.channel)} (known: {', '.join(CHANNELS)})")
    if node.template is None:
        problems.append("a SEND node needs a template")
    else:
        problems += _text_problems("template", node.template, MAX_TEXT_LENGTH)
    if node.subject is not None:
        problems += _text_problems("subject", node.subject, MAX_SUBJECT_LENGTH)
    if node.body is not None:
        problems += _body_problems(node.body)
    for field, source in (("subject", node.subject), ("body", node.body)):
        problem = template_problem(field, source) if source else None
        if problem:
            problems.append(problem)
    return problems


def _text_problems(field: str, value: str, max_length: int) -> list[str]:
    problem = text_problem(field, value, max_length)
    return [problem] if problem else []


# Within a body, a line break or a tab is text like any other; no other control character is.
_LAYOUT = re.compile("[\r\n\t]")


def _body_problems(body: str) -> list[str]:
    flat = _LAYOUT.sub(" ", body)
    if not flat.strip():
        return ["body must not be blank"]
    if len(body) > MAX_BODY_LENGTH:
        return [f"body is longer than {MAX_BODY_LENGTH} characters"]
    if has_unreadable_characters(flat):
        return [
            "body holds a control or invisible character such as NUL, an escape sequence "
            "or a direction mark (line breaks and tabs are fine)"
        ]
    return []


def _wait_for_event_problems(node: Node) -> list[str]:
    problems = []
    if node.event is None:
        problems.append("a WAIT_FOR_EVENT node needs an event (the name of the event it waits for)")
    else:
        problems += _text_problems("event", node.event, MAX_EVENT_NAME_LENGTH)
    if len(node.where) > MAX_LEAVES:
        problems.append(f"where has at most {MAX_LEAVES} conditions, not {len(node.where)}")
    problems += _seconds_problems(
        node.type, "timeoutSeconds", node.timeout_seconds, "how long to wait for the event"
    )
    return problems


def _split_problems(branches: Sequence[SplitBranch]) -> list[str]:
    problems = []
    if not MIN_BRANCHES <= len(branches) <= MAX_BRANCHES:
        problems.append(
            f"a SPLIT node needs {MIN_BRANCHES} to {MAX_BRANCHES} branches, not {len(branches)}"
        )
    seen: set[str] = set()
    for branch in branches:
        name = f"branch {quoted(branch.key)}"
        if not KEY.fullmatch(branch.key):
            problems.append(f"{name}: {_KEY_RULE}")
        elif branch.key in seen:
            problems.append(f"{name}: two branches have this key, and each needs a key of its own")
        seen.add(branch.key)
        if not 1 <= branch.percent <= 100:
            problems.append(f"{name}: percent must be from 1 to 100, not {branch.percent}")
    total = sum(branch.percent for branch in branches)
    if branches and total != 100:
        problems.append(f"its branches' percents add up to {total}, not 100")
    return problems


# -- the graph -----------------------------------------------------------------------------


def _graph_problems(flow: Flow) -> list[str]:
    # Where keys repeat, the first node of a key stands for it (the repeat is refused).
    graph = {
        key: [target for target in flow.node(key).successors() if target in flow]
        for key in dict.fromkeys(flow.keys)
    }
    problems = [
        f"node {quoted(loop[0])}: the flow loops back to it "
        f"({' -> '.join(quoted(key) for key in loop)}), and a flow may not loop (every walk "
        "must end)"
        for loop in _loops(graph)
    ]
    reached = _reachable(graph, flow.entry.key)
    problems += [
        f"node {quoted(key)}: no path from the entry (node {quoted(flow.entry.key)}) leads to "
        "it: link it from another node, or remove it"
        for key in graph
        if key not in reached
    ]
    return problems


def _loops(graph: dict[str, list[str]]) -> list[list[str]]:
    """A loop for each node some path leads back to first: from it, back to it.

    A depth-first walk from every node: a way out to a node still on the walk's
    path closes a loop. Each node starts at most one loop, so there are at most
    as many as nodes.
    """
    on_path: set[str] = set()
    done: set[str] = set()
    loops: dict[str, list[str]] = {}
    for root in graph:
        if root in done:
            continue
        path = [root]
        on_path.add(root)
        ways = [iter(graph[root])]
        while ways:
            for successor in ways[-1]:
                if successor in on_path:
                    if successor not in loops:
                        loops[successor] = [*path[path.index(successor) :], successor]
                elif successor not in done:
                    path.append(successor)
                    on_path.add(successor)
                    ways.append(iter(graph[successor]))
                    break
            else:
                ways.pop()
                left = path.pop()
                on_path.discard(left)
                done.add(left)
    return list(loops.values())


def _reachable(graph: dict[str, list[str]], entry: str) -> set[str]:
    reached = {entry}
    frontier = [entry]
    while frontier:
        for successor in graph[frontier.pop()]:
            if successor not in reached:
                reached.add(successor)
                frontier.append(successor)
    return reached
