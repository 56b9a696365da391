"""How a customer walks a journey's steps (docs/rules.md, "Walking the steps").

An enrollment is at a step index, due at a moment. Applying the step at its
index moves it on by one:

- WAIT s: the next step is due s seconds later;
- SEND: a delivery of (channel, template) is queued, and the next step is
  due at once;
- after the last step (a SEND, or the end of a last WAIT) the customer has
  completed the journey.

Customers walk the journey's live version: the one they entered with,
until REACTIVATE makes a new version live and moves everyone inside onto
it, at the same step index (a customer past the end of a shorter version
completes). RESUME keeps the live version, so it keeps them where they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.content import Step, StepType


class EnrollmentState(StrEnum):
    INSIDE = "INSIDE"  # walking, waiting, or held where it is
    COMPLETED = "COMPLETED"  # walked past the last step
    EXITED = "EXITED"  # the journey was aborted while it was inside


class DeliveryState(StrEnum):
    QUEUED = "QUEUED"  # recallable: held while the journey holds, cancelled by ABORT
    HANDED_OVER = "HANDED_OVER"  # given to the channel: never recalled
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # the journey was aborted before it was handed over


@dataclass(frozen=True)
class StepOutcome:
    """What applying one step does to every enrollment at that index."""

    next_index: int
    next_due_at: datetime | None  # None: completed
    send: Step | None = None

    @property
    def completes(self) -> bool:
        return self.next_due_at is None


def apply_step(steps: Sequence[Step], index: int, now: datetime) -> StepOutcome:
    """Apply the step at `index` (clamped to the version's length) at `now`."""
    index = min(index, len(steps))
    if index == len(steps):
        return StepOutcome(index, None)
    step = steps[index]
    if step.type is StepType.WAIT:
        return StepOutcome(index + 1, now + timedelta(seconds=step.seconds or 0))
    # A SEND that is the last step completes the walk in the same move.
    last = index + 1 == len(steps)
    return StepOutcome(index + 1, None if last else now, send=step)


def send_not_before(now: datetime, send_delay_seconds: int) -> datetime:
    """When a delivery queued now may be handed over: after its recall window."""
    return now + timedelta(seconds=send_delay_seconds)
