"""The `log` channel: each message is a line in this process's log (logger
`journeys.channel.log`), delivered in the transaction that hands it over
(service/channel_table.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from domain.templates import Rendered

channel_log = logging.getLogger("journeys.channel.log")

_DELIVERED = "delivered template %r to customer %r (journey %s, delivery %s)"
# A message with a subject or a body shows them after it, each in quotes (one line).
_WITH_MESSAGE = _DELIVERED + ": subject %r, body %r"


class LogLines:
    """The `log` channel's messages of one transaction, written as its last step before
    the commit, which records them DELIVERED: the channel is this process's own log,
    written at once, so its hand-over and its outcome are one transaction.

    Why that keeps the guarantees. A message a channel may have must be on record as
    handed over (never recalled) or delivered, and one whose outcome is lost must be
    sent again (at least once). Here the lines go out only once every statement of the
    transaction has succeeded; if the commit then fails (or the process stops before it),
    nothing of the batch is recorded, its customers are still due at the same step, and
    the next batch writes the lines again: at least once, as an attempt whose outcome
    was lost today (a channel may see a message twice). Written after the commit
    instead, a stop between the two would lose them. The one difference from a channel
    outside the process: in that window a PAUSE or ABORT committed before the step is
    applied again holds or exits a customer whose line is already in the log."""

    def __init__(self) -> None:
        self._lines: list[tuple[object, ...]] = []

    def add(
        self,
        template: str,
        journey_id: str,
        deliveries: Sequence[Any],
        messages: Sequence[Rendered],
    ) -> None:
        """Deliveries with `id` and `customer_id`, all of one template and journey, and
        each one's message."""
        for delivery, message in zip(deliveries, messages, strict=True):
            line: tuple[object, ...] = (template, delivery.customer_id, journey_id, delivery.id)
            if message.subject or message.body:
                line += (message.subject, message.body)
            self._lines.append(line)

    def write(self) -> None:
        if not self._lines or not channel_log.isEnabledFor(logging.INFO):
            return
        # One record a message, as `channel_log.info` makes it but for the caller's frame,
        # which it looks up on the stack every time, a cost each message would pay
        # (bench/messages.py, its fixed phase on the log channel).
        for line in self._lines:
            channel_log.handle(
                logging.LogRecord(
                    channel_log.name,
                    logging.INFO,
                    __file__,
                    0,
                    _DELIVERED if len(line) == 4 else _WITH_MESSAGE,
                    line,
                    None,
                    "write",
                )
            )
