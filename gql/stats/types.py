"""How a journey's customers and messages look over GraphQL: its stats, and each step's
customers."""

from __future__ import annotations

import strawberry

from domain.content import Step, StepType
from domain.counters import COUNTERS, JourneyCounters
from domain.statuses import Status, holds_customers

# The counters (domain.counters) shown under another name, saying they count messages.
# Every other counter is shown under its own name, but for `inside`, which is shown
# split by the journey's status: `in_flight` while it runs, `held` while it holds.
_SHOWN_AS = {
    "queued": "queued_deliveries",
    "failed": "failed_deliveries",
    "cancelled": "cancelled_deliveries",
    "skipped": "skipped_deliveries",
}


@strawberry.type(description="A journey's customers and messages, kept exact as they move.")
class JourneyStats:
    entered: int = strawberry.field(description="Customers who ever entered.")
    in_flight: int = strawberry.field(description="Inside and moving on (the journey runs).")
    held: int = strawberry.field(
        description="Inside and held where they are (the journey is paused, frozen or in error)."
    )
    completed: int
    exited: int = strawberry.field(description="Taken out by an abort.")
    queued_deliveries: int = strawberry.field(
        description="Messages not yet handed to their channel: still recallable. They wait "
        "while the journey holds, and are cancelled if it is aborted."
    )
    handed_over: int = strawberry.field(
        description="Messages given to their channel, outcome pending: no longer recallable."
    )
    delivered: int
    failed_deliveries: int
    cancelled_deliveries: int = strawberry.field(
        description="Messages that were still queued when the journey was aborted: never sent."
    )
    skipped_deliveries: int = strawberry.field(
        description="Messages a sending rule kept back: no valid email address, or over "
        "the frequency cap. Never sent, and not a channel's failure."
    )
    converted: int = strawberry.field(
        description="Customers its goal event took out, whatever node they were at."
    )
    node_arrivals: int = strawberry.field(
        description="Times a customer reached a node of its flow, all nodes together: "
        "it grows as customers walk, so a watcher sees every move (Journey.nodes has "
        "the counts node by node)."
    )

    @classmethod
    def of(cls, counters: JourneyCounters, status: Status) -> JourneyStats:
        held = holds_customers(status)
        shown = {
            _SHOWN_AS.get(name, name): getattr(counters, name)
            for name in COUNTERS
            if name != "inside"
        }
        return cls(
            **shown,
            in_flight=0 if held else counters.inside,
            held=counters.inside if held else 0,
        )


@strawberry.type(description="A step of the live version, and how many customers are at it.")
class StepProgress:
    index: int
    type: StepType
    seconds: int | None
    channel: str | None
    template: str | None
    customers: int = strawberry.field(
        description="Customers inside whose next step this is (waiting, or held there)."
    )

    @classmethod
    def of(cls, index: int, step: Step, customers: int) -> StepProgress:
        return cls(
            index=index,
            type=step.type,
            seconds=step.seconds,
            channel=step.channel,
            template=step.template,
            customers=customers,
        )
