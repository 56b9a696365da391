"""What the flow engine's service tests build their journeys from."""

from __future__ import annotations

from domain.actions import Action
from domain.content import Content, JourneyKind
from domain.flow import Node, NodeType
from domain.journey import Journey
from service.services import Services
from tests.conftest import Callers


def send(key: str, template: str | None = None, next: str | None = None) -> Node:
    """A SEND on the log channel (its template the key, unless given)."""
    return Node(key, NodeType.SEND, next=next, channel="log", template=template or key)


async def running(services: Services, callers: Callers, *nodes: Node, **content: object) -> Journey:
    """An ACTIVE event-triggered journey of these nodes, triggered by `signup`."""
    journey = await services.commands.create(
        callers.editor,
        name="Flow",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(nodes=nodes, trigger_event="signup", **content),  # type: ignore[arg-type]
    )
    return await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
