"""The states of customers in journeys and of their messages, and where a customer
stands on the straight line of steps that `Journey.steps` shows.

How customers walk a journey's flow, node by node, is domain/flow_walk.py's
(applied by service/processing.py). Customers walk the journey's live
version: the one they entered with, until REACTIVATE makes a new version
live and moves everyone inside onto it, at the same node key (a customer at
a key the new version lacks completes when next applied). RESUME keeps the
live version, so it keeps them where they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.flow import Flow, NodeType
from domain.flow_walk import Everyone, Outcome, apply_node, due_at, wait_at


class EnrollmentState(StrEnum):
    INSIDE = "INSIDE"  # walking, waiting, or held where it is
    COMPLETED = "COMPLETED"  # its walk ended (a target of null, or an EXIT)
    EXITED = "EXITED"  # the journey was aborted, or REACTIVATE removed its node
    CONVERTED = "CONVERTED"  # the journey's goal event took it out


class DeliveryState(StrEnum):
    QUEUED = "QUEUED"  # recallable: held while the journey holds, cancelled by ABORT
    HANDED_OVER = "HANDED_OVER"  # given to the channel: never recalled
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # the journey was aborted before it was handed over
    SKIPPED = "SKIPPED"  # a sending rule kept it back: no address, a frequency cap


@dataclass(frozen=True)
class Application:
    """What the step processor does to the customers due at one place of a journey:
    the node it applies (`key`: where a SEND's messages come from, and where a walk
    that ends there is left), and its outcomes (domain.flow_walk.Outcome)."""

    key: str
    outcomes: tuple[Outcome, ...]


def apply_at(flow: Flow, at: str | None, now: datetime) -> Application:
    """Apply the place `at` of `flow` at `now` to the customers due there.

    - None: they have just entered. They reach the entry node now: if it waits (a WAIT,
      a WAIT_FOR_EVENT), they are due there once its time is up; any other entry node
      is applied to them at once, so a journey that starts with a SEND sends in the
      batch that first sees them, as it always did.
    - a key the flow does not have (REACTIVATE ends the walk of those at a removed
      node; should one be found here, its walk ends too).
    - any other key: its node is applied (domain.flow_walk.apply_node).
    """
    if at is None:
        entry = flow.entry
        if wait_at(entry) > timedelta(0):
            return Application(entry.key, (Outcome(Everyone(), entry.key, due_at(entry, now)),))
        return Application(entry.key, apply_node(flow, entry.key, now))
    if at not in flow:
        return Application(at, (Outcome(Everyone(), None, None),))
    return Application(at, apply_node(flow, at, now))


def line_position(flow: Flow, target: str | None) -> int:
    """Where a customer who has just reached `target` (None: whose walk ended) stands on
    the straight line of steps, as `Journey.steps` counts customers: how many steps
    they have begun. A WAIT is begun on reaching it (the wait is under way), every
    other node once applied; a walk that ended stands past the last step. For a flow
    that is not a straight line this is only the place of their node in the list."""
    if target is None:
        return len(flow.nodes)
    position = flow.keys.index(target)
    return position + 1 if flow.node(target).type is NodeType.WAIT else position


def send_not_before(now: datetime, send_delay_seconds: int) -> datetime:
    """When a delivery queued now may be handed over: after its recall window."""
    return now + timedelta(seconds=send_delay_seconds)
