"""An attempt at one message on a channel that sends after the hand-over's commit
(service/channel_table.py), and its outcome: what the step processor hands a channel's
sender, and what it records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.templates import Rendered


@dataclass(frozen=True)
class Attempt:
    """One attempt at one message: what to send, and where."""

    delivery_id: int  # the row's, never sent: it counts every workspace's messages
    public_id: UUID  # what the receiver sees (the webhook's `deliveryId`, the Message-ID)
    journey_id: str
    workspace_id: str
    customer_id: str
    channel: str
    template: str
    number: int  # 1 for the first attempt
    # Where the workspace's messages on the channel go (its webhook endpoint, its email
    # sender), read in the hand-over's transaction; None: nowhere configured.
    destination: Any = None
    # The subject and body rendered for this customer at the hand-over.
    message: Rendered = field(default_factory=lambda: Rendered("", ""))
    # The email channel's recipient: the profile's `email`, checked at the hand-over.
    recipient: str | None = None

    @property
    def shown_id(self) -> str:
        """The public id as receivers see it: 32 hex digits."""
        return self.public_id.hex


@dataclass(frozen=True)
class Outcome:
    attempt: Attempt
    succeeded: bool
    error: str | None = None
    # No attempt after this one, whatever the limit (a channel that cannot work, or a
    # recipient refused for good).
    final: bool = False
    # Whether it tells of the channel's health, and so counts in its journey's run of
    # failures: a recipient refused for good says nothing of the channel.
    counts_in_run: bool = True
