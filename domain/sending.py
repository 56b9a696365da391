"""What becomes of a message when it is due to go out (docs/rules.md, "Messages").

In this order, each rule only for a message not yet handed over (a retry was
handed over already: it is only made again, as it is now):

1. an `email` message needs the profile's `email` to be one valid address, else
   it is SKIPPED (NO_EMAIL_ADDRESS): no message, and not the channel's failure;
2. inside the workspace's quiet hours, in the customer's time zone, it is held:
   still QUEUED, and so recallable, until they end;
3. over the workspace's frequency cap (messages handed over to that customer in
   the last hours, every journey and channel together), it is SKIPPED
   (FREQUENCY_CAPPED);
4. its subject and body are rendered for the customer (domain.templates); a
   render that fails fails this message alone, with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.channels import EMAIL
from domain.customers import EMAIL as EMAIL_ATTRIBUTE
from domain.customers import TIMEZONE
from domain.email import email_address
from domain.flow import Node
from domain.sending_rules import SendingRules, customer_zone, quiet_until
from domain.templates import Rendered, RenderFailed, Variables, has_markup, render

# Why a message was skipped: the code a delivery's reason starts with.
NO_EMAIL_ADDRESS = "NO_EMAIL_ADDRESS"
FREQUENCY_CAPPED = "FREQUENCY_CAPPED"


@dataclass(frozen=True)
class Send:
    message: Rendered
    recipient: str | None  # the email channel's address


@dataclass(frozen=True)
class Hold:
    until: datetime  # when the quiet hours end


@dataclass(frozen=True)
class Skip:
    reason: str  # a code above, a colon, and a sentence


@dataclass(frozen=True)
class Fail:
    reason: str


Decision = Send | Hold | Skip | Fail


@dataclass(frozen=True)
class Due:
    """A message due to go out now."""

    channel: str
    node: Node | None  # the SEND that wrote it (None: no version of its journey has it)
    variables: Variables
    # False for a retry: handed over once, it is never held or skipped afterwards.
    first_hand_over: bool


def reads_profile(channel: str, node: Node | None, rules: SendingRules) -> bool:
    """Whether deciding a message reads its customer's profile: for the email channel's
    address, the quiet hours' time zone, or a template with markup (one without is its
    own text). The others are decided without reading it."""
    return (
        channel == EMAIL
        or rules.quiet_hours is not None
        or (node is not None and (has_markup(node.subject) or has_markup(node.body)))
    )


def decide(due: Due, rules: SendingRules, now: datetime, sent_lately: int) -> Decision:
    """What becomes of `due` under `rules` now; `sent_lately` is how many messages the
    customer was handed in the frequency cap's window."""
    attributes = due.variables.attributes
    recipient = None
    if due.channel == EMAIL:
        recipient = email_address(attributes.get(EMAIL_ATTRIBUTE))
        if recipient is None:
            reason = f"{NO_EMAIL_ADDRESS}: the profile has no valid email address"
            return Skip(reason) if due.first_hand_over else Fail(reason)
    if due.first_hand_over and rules.quiet_hours is not None:
        zone = customer_zone(attributes.get(TIMEZONE), rules.timezone)
        until = quiet_until(now, rules.quiet_hours, zone)
        if until is not None:
            return Hold(until)
    cap = rules.frequency_cap
    if due.first_hand_over and cap is not None and not cap.allows(sent_lately):
        return Skip(
            f"{FREQUENCY_CAPPED}: the customer was sent {sent_lately} messages in the last "
            f"{cap.hours} hours (the cap is {cap.messages})"
        )
    if due.node is None:
        return Fail("its SEND node is in no version of the journey")
    try:
        return Send(render(due.node.subject, due.node.body, due.variables), recipient)
    except RenderFailed as failed:
        return Fail(failed.reason)
