"""How customers walk a flow (docs/rules.md, "The flow": "Walking the flow").

A customer inside a journey is at one node, which they reached at some
moment, and is due there `wait_at(node)` later: a WAIT's seconds, a
WAIT_FOR_EVENT's timeout, at once for every other node. Once due, the node
is applied to them: `apply_node` says what that does, as outcomes. Each
outcome takes some of the customers due at the node (`who`), moves them to
its target, which they reach at that moment (`now`) and where they are due
accordingly, or ends their walk (a target of None, or an EXIT node: they
have completed the journey), and may queue a message.

The engine applies a node to all the customers due at it in one journey
and version together, one statement per outcome; so nothing here is about
one customer, except `split_bucket` (which the engine writes in SQL) and
`split_branch`. Time is always passed in.

A change of version (REACTIVATE) moves customers at node key K onto the new
version's node K, keeping when they reached it: `nodes_removed` are the keys
whose customers' walk ends instead (reason NODE_REMOVED), `due_again` those
whose customers are due anew, counted from when they reached the node: its wait
changed length, or it is of another type now (applied afresh).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias

from domain.conditions import AttributeCondition, Condition
from domain.flow import Flow, Node, NodeType, SplitBranch

# The branch labels a CONDITION and a WAIT_FOR_EVENT count their customers under
# (a SPLIT's are its branch keys).
YES = "yes"
NO = "no"
EVENT = "event"
TIMEOUT = "timeout"
BUCKETS = 100


@dataclass(frozen=True)
class Message:
    """What a SEND node queues for each customer it is applied to."""

    channel: str
    template: str
    subject: str | None = None
    body: str | None = None


# -- who an outcome takes, among the customers due at a node ------------------------------


@dataclass(frozen=True)
class Everyone:
    pass


@dataclass(frozen=True)
class Matching:
    """Those whose profile and events meet `condition` now (`meets`), or the others."""

    condition: Condition
    meets: bool


@dataclass(frozen=True)
class InBuckets:
    """Those whose `split_bucket` for the node is from `low` up to, not including, `high`."""

    low: int
    high: int


@dataclass(frozen=True)
class EventCame:
    """Those who did `event` with properties meeting `where`, tracked after they reached
    the node and before its timeout ran out (`came`), or the others. Strictly between:
    the event that admitted a customer, at the moment they reached the entry, does not
    count."""

    event: str
    where: tuple[AttributeCondition, ...]
    came: bool


Who: TypeAlias = Everyone | Matching | InBuckets | EventCame


@dataclass(frozen=True)
class Outcome:
    """Where applying a node at `now` moves some of the customers due at it."""

    who: Who
    target: str | None  # the node they reach at `now`; None: their walk ends (completed)
    due_at: datetime | None  # when the target is due for them; None when the walk ends
    branch: str | None = None  # what the node counts them under, when it has branches
    message: Message | None = None

    @property
    def ends(self) -> bool:
        return self.target is None


def wait_at(node: Node) -> timedelta:
    """How long after reaching `node` a customer is due there."""
    if node.type is NodeType.WAIT:
        return timedelta(seconds=node.seconds or 0)
    if node.type is NodeType.WAIT_FOR_EVENT:
        return timedelta(seconds=node.timeout_seconds or 0)
    return timedelta(0)


def due_at(node: Node, reached_at: datetime) -> datetime:
    """When a customer who reached `node` at `reached_at` is due there: a WAIT ends, a
    WAIT_FOR_EVENT times out (an event may release them sooner), any other node at once.
    Also after REACTIVATE, from the same `reached_at`: a wait whose length changed
    counts the new length, and may be due at once."""
    return reached_at + wait_at(node)


def apply_node(flow: Flow, key: str, now: datetime) -> tuple[Outcome, ...]:
    """What applying the node `key` at `now` does to the customers due at it, one
    outcome for each part of them; together the outcomes take each of them once.

    - WAIT, SEND: everyone to `next` (SEND queues its message for each);
    - EXIT: everyone's walk ends;
    - CONDITION: those who meet the condition to `yes`, the others to `no`;
    - SPLIT: each branch's share of buckets to its `next`;
    - WAIT_FOR_EVENT (due: the timeout ran out, perhaps during a hold): those whose
      event came in time to `next` (the release the engine missed while holding),
      the others to `onTimeout`.
    """
    node = flow.node(key)

    def to(
        target: str | None, who: Who, branch: str | None = None, message: Message | None = None
    ) -> Outcome:
        due = None if target is None else due_at(flow.node(target), now)
        return Outcome(who, target, due, branch, message)

    if node.type is NodeType.EXIT:
        return (to(None, Everyone()),)
    if node.type is NodeType.WAIT:
        return (to(node.next, Everyone()),)
    if node.type is NodeType.SEND:
        message = Message(node.channel or "", node.template or "", node.subject, node.body)
        return (to(node.next, Everyone(), message=message),)
    if node.type is NodeType.CONDITION:
        assert node.condition is not None, "a checked CONDITION node has a condition"
        return (
            to(node.yes, Matching(node.condition, meets=True), YES),
            to(node.no, Matching(node.condition, meets=False), NO),
        )
    if node.type is NodeType.SPLIT:
        return tuple(
            to(branch.next, InBuckets(low, high), branch.key)
            for branch, low, high in bucket_ranges(node.branches)
        )
    return (release(flow, key, now), to(node.on_timeout, _event_came(node, False), TIMEOUT))


def release(flow: Flow, key: str, now: datetime) -> Outcome:
    """Where the event a WAIT_FOR_EVENT node waits for moves the customers it releases,
    when it is tracked at `now` while they wait there."""
    node = flow.node(key)
    target = node.next
    due = None if target is None else due_at(flow.node(target), now)
    return Outcome(_event_came(node, True), target, due, EVENT)


def _event_came(node: Node, came: bool) -> EventCame:
    assert node.event is not None, "a checked WAIT_FOR_EVENT node has an event"
    return EventCame(node.event, node.where, came)


# -- splits -------------------------------------------------------------------------------


def split_bucket(journey_id: str, customer_id: str, node_key: str) -> int:
    """The customer's bucket at a SPLIT node, 0 to 99: the same for a retry, a RESUME
    and a REACTIVATE, and (as buckets are spread evenly) a fair draw.

    Exactly: the md5 of the UTF-8 text `journey_id:customer_id:node_key`, its first 8
    hex digits read as an unsigned 32-bit number, modulo 100. In PostgreSQL:
    `('x' || substr(md5(journey_id || ':' || customer_id || ':' || node_key), 1, 8))
    ::bit(32)::bigint % 100`; SQLite has no md5, so the engine registers this function
    on its connections.
    """
    text = f"{journey_id}:{customer_id}:{node_key}"
    return int(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:8], 16) % BUCKETS


def bucket_ranges(branches: tuple[SplitBranch, ...]) -> list[tuple[SplitBranch, int, int]]:
    """Each branch with its buckets, from `low` up to, not including, `high`: in branch
    order, as many buckets as its percent."""
    ranges = []
    low = 0
    for branch in branches:
        ranges.append((branch, low, low + branch.percent))
        low += branch.percent
    return ranges


def split_branch(node: Node, bucket: int) -> SplitBranch:
    """The branch of a (checked) SPLIT node a customer in `bucket` takes."""
    for branch, low, high in bucket_ranges(node.branches):
        if low <= bucket < high:
            return branch
    raise ValueError(f"bucket {bucket} is not one of node {node.key!r}'s branches' buckets")


# -- a change of version ------------------------------------------------------------------


def nodes_removed(old: Flow, new: Flow) -> list[str]:
    """The keys of `old` that `new` no longer has: on REACTIVATE, the walk of the customers
    at them ends (reason NODE_REMOVED)."""
    return [key for key in old.keys if key not in new]


def due_again(old: Flow, new: Flow) -> list[str]:
    """The keys both have where a customer's due time is counted again from when they
    reached the node, on REACTIVATE: its wait changed length (a shortened wait may be
    due at once), or its node changed type (applied afresh)."""
    return [
        node.key
        for node in old.nodes
        if (changed := new.get(node.key)) is not None
        and (changed.type is not node.type or wait_at(changed) != wait_at(node))
    ]
