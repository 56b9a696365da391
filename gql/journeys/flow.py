"""A journey's flow over GraphQL: nodes given (`NodeInput`) and shown (`JourneyNode`).

A node given here becomes a `domain.flow.Node` as it is; the content it is
given with checks it (`domain.flow_checks`), naming the node of each problem.
Its condition and `where` are read as `audienceCondition` and `triggerWhere`
are, and refused at the place in them that is wrong.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from domain.condition_json import condition_to_json, where_to_json
from domain.condition_words import describe
from domain.flow import Node, NodeType, SplitBranch, quoted
from domain.flow_walk import EVENT, NO, TIMEOUT, YES
from gql.conditions import AttributeConditionInput, ConditionInput, condition_of, where_of
from service.reads import NodeCount

strawberry.enum(
    NodeType,
    name="NodeType",
    description="What a node does: WAIT seconds, SEND a message, WAIT_FOR_EVENT, branch "
    "on a CONDITION, SPLIT customers by share, or EXIT (end the walk).",
)


@strawberry.input(description="One way out of a SPLIT: `percent` of its customers go to `next`.")
class SplitBranchInput:
    key: str
    percent: int
    next: str | None = None

    def to_branch(self) -> SplitBranch:
        return SplitBranch(self.key, self.percent, self.next)


@strawberry.input(
    description="A node of a journey's flow; the first is the entry. Give the fields of its "
    "type only. A target (next, yes, no, onTimeout, a branch's next) names another node's "
    "key, or is null: the walk ends there."
)
class NodeInput:
    key: str = strawberry.field(description="1 to 40 of a-z, 0-9, _ and -, each node's its own.")
    type: NodeType
    next: str | None = strawberry.field(
        default=None, description="WAIT, SEND, WAIT_FOR_EVENT (when the event comes)."
    )
    seconds: int | None = strawberry.field(default=None, description="WAIT: how long.")
    channel: str | None = strawberry.field(default=None, description="SEND: log, webhook or email.")
    template: str | None = strawberry.field(default=None, description="SEND: its template.")
    subject: str | None = strawberry.field(
        default=None, description="SEND: the message's subject, one line."
    )
    body: str | None = strawberry.field(
        default=None, description="SEND: the message's body (line breaks allowed)."
    )
    event: str | None = strawberry.field(
        default=None, description="WAIT_FOR_EVENT: the name of the event waited for."
    )
    where: list[AttributeConditionInput] | None = strawberry.field(
        default=None,
        description="WAIT_FOR_EVENT: the event's properties meet every one of these.",
    )
    timeout_seconds: int | None = strawberry.field(
        default=None, description="WAIT_FOR_EVENT: how long to wait for the event."
    )
    on_timeout: str | None = strawberry.field(
        default=None, description="WAIT_FOR_EVENT: where to go when it did not come in time."
    )
    condition: ConditionInput | None = strawberry.field(
        default=None, description="CONDITION: read on the profile and events when applied."
    )
    yes: str | None = strawberry.field(default=None, description="CONDITION: when it holds.")
    no: str | None = strawberry.field(default=None, description="CONDITION: when it does not.")
    branches: list[SplitBranchInput] | None = strawberry.field(
        default=None, description="SPLIT: 2 to 10, their percents adding up to 100."
    )

    def to_node(self) -> Node:
        place = f"node {quoted(self.key)}:"
        return Node(
            key=self.key,
            type=self.type,
            next=self.next,
            seconds=self.seconds,
            channel=self.channel,
            template=self.template,
            subject=self.subject,
            body=self.body,
            event=self.event,
            where=where_of(self.where, f"{place} where"),
            timeout_seconds=self.timeout_seconds,
            on_timeout=self.on_timeout,
            condition=condition_of(self.condition, f"{place} condition")
            if self.condition
            else None,
            yes=self.yes,
            no=self.no,
            branches=tuple(branch.to_branch() for branch in self.branches or ()),
        )


@strawberry.type(
    description="One way out of a node, which it counts its customers under: a SPLIT's "
    "branches (their key and percent), a CONDITION's yes and no, a WAIT_FOR_EVENT's event "
    "(next) and timeout (onTimeout)."
)
class NodeBranch:
    key: str
    percent: int | None = strawberry.field(description="A SPLIT branch's share (null: others).")
    next: str | None = strawberry.field(description="Where it leads (null: the walk ends).")
    customers: int | None = strawberry.field(
        default=None,
        description="Customers who left the node this way, ever (null on a version's nodes).",
    )


@strawberry.type(name="JourneyNode")
class JourneyNodeType:
    key: str
    type: NodeType
    next: str | None
    seconds: int | None
    channel: str | None
    template: str | None
    subject: str | None
    body: str | None
    event: str | None
    where: JSON | None = strawberry.field(
        description="A WAIT_FOR_EVENT's filter on the event's properties, as a list of "
        "AttributeConditionInput (null: none)."
    )
    timeout_seconds: int | None
    on_timeout: str | None
    condition: JSON | None = strawberry.field(
        description="A CONDITION's condition, in ConditionInput's JSON form."
    )
    condition_text: str | None = strawberry.field(description="The condition in words.")
    yes: str | None
    no: str | None
    branches: list[NodeBranch] = strawberry.field(
        description="Each way out of the node (none for WAIT, SEND and EXIT)."
    )
    at: int | None = strawberry.field(
        default=None,
        description="Customers at the node now: waiting there, or held there while the "
        "journey holds (null on a version's nodes).",
    )
    reached: int | None = strawberry.field(
        default=None, description="Customers who ever reached the node (null on a version's nodes)."
    )

    @classmethod
    def of(cls, node: Node, counts: NodeCount | None = None) -> JourneyNodeType:
        """The node, with its counts when shown as a journey's (a version's: none)."""
        shown = cls._of(node)
        if counts is None:
            return shown
        shown.at, shown.reached = counts.at, counts.reached
        for branch in shown.branches:
            branch.customers = counts.branches.get(branch.key, 0)
        return shown

    @classmethod
    def _of(cls, node: Node) -> JourneyNodeType:
        condition = node.condition
        return cls(
            key=node.key,
            type=node.type,
            next=node.next,
            seconds=node.seconds,
            channel=node.channel,
            template=node.template,
            subject=node.subject,
            body=node.body,
            event=node.event,
            where=JSON(where_to_json(node.where)) if node.where else None,
            timeout_seconds=node.timeout_seconds,
            on_timeout=node.on_timeout,
            condition=JSON(condition_to_json(condition)) if condition else None,
            condition_text=describe(condition) if condition else None,
            yes=node.yes,
            no=node.no,
            branches=_ways_out(node),
        )


def _ways_out(node: Node) -> list[NodeBranch]:
    if node.type is NodeType.SPLIT:
        return [NodeBranch(key=b.key, percent=b.percent, next=b.next) for b in node.branches]
    if node.type is NodeType.CONDITION:
        return [
            NodeBranch(key=YES, percent=None, next=node.yes),
            NodeBranch(key=NO, percent=None, next=node.no),
        ]
    if node.type is NodeType.WAIT_FOR_EVENT:
        return [
            NodeBranch(key=EVENT, percent=None, next=node.next),
            NodeBranch(key=TIMEOUT, percent=None, next=node.on_timeout),
        ]
    return []
