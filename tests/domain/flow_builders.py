"""Small builders of flow nodes for the domain tests: each a valid node of its type,
with the fields a test does not care about filled in."""

from __future__ import annotations

from typing import Any

from domain.conditions import AttributeCondition, ConditionOp
from domain.flow import Node, NodeType, SplitBranch

IN_MAY = AttributeCondition("birthday", ConditionOp.MONTH_IS, 5)


def wait(key: str, next: str | None = None, seconds: int | None = 60, **more: Any) -> Node:
    return Node(key, NodeType.WAIT, next=next, seconds=seconds, **more)


def send(key: str, next: str | None = None, **more: Any) -> Node:
    fields: dict[str, Any] = {"channel": "log", "template": "welcome", **more}
    return Node(key, NodeType.SEND, next=next, **fields)


def wait_for_event(
    key: str, next: str | None = None, on_timeout: str | None = None, **more: Any
) -> Node:
    fields: dict[str, Any] = {"event": "purchase", "timeout_seconds": 3600, **more}
    return Node(key, NodeType.WAIT_FOR_EVENT, next=next, on_timeout=on_timeout, **fields)


def condition(key: str, yes: str | None = None, no: str | None = None, **more: Any) -> Node:
    fields: dict[str, Any] = {"condition": IN_MAY, **more}
    return Node(key, NodeType.CONDITION, yes=yes, no=no, **fields)


def split(key: str, *branches: tuple[str, int, str | None], **more: Any) -> Node:
    return Node(
        key,
        NodeType.SPLIT,
        branches=tuple(SplitBranch(name, percent, next) for name, percent, next in branches),
        **more,
    )


def exit_(key: str, **more: Any) -> Node:
    return Node(key, NodeType.EXIT, **more)
