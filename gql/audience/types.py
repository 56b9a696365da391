"""How customers and messages look over GraphQL."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from domain.audience import Refusal, holds_customers
from domain.content import Step, StepType
from domain.statuses import Status
from service.reads import JourneyCounters

if TYPE_CHECKING:
    from gql.journeys.types import JourneyType

strawberry.enum(Refusal, name="AdmissionRefusal", description="Why a customer did not enter.")


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

    @classmethod
    def of(cls, counters: JourneyCounters, status: Status) -> JourneyStats:
        held = holds_customers(status)
        return cls(
            entered=counters.entered,
            in_flight=0 if held else counters.inside,
            held=counters.inside if held else 0,
            completed=counters.completed,
            exited=counters.exited,
            queued_deliveries=counters.queued,
            handed_over=counters.handed_over,
            delivered=counters.delivered,
            failed_deliveries=counters.failed,
            cancelled_deliveries=counters.cancelled,
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


@strawberry.type
class RejectedCustomer:
    customer_id: str
    reason: Refusal


@strawberry.type
class EnrollmentResult:
    admitted: int
    rejected: list[RejectedCustomer]


@strawberry.type
class RefusedJourney:
    journey_id: strawberry.ID
    reason: Refusal


@strawberry.type
class TrackResult:
    entered: list[Annotated[JourneyType, strawberry.lazy("gql.journeys.types")]]
    refused: list[RefusedJourney]
    converted: list[Annotated[JourneyType, strawberry.lazy("gql.journeys.types")]] = (
        strawberry.field(
            description="The journeys this event completed for its customer, by meeting "
            "their conversion goal. Always empty for now: journeys have no goals yet."
        )
    )
    released: list[Annotated[JourneyType, strawberry.lazy("gql.journeys.types")]] = (
        strawberry.field(
            description="The journeys in which this event released its customer from a "
            "step waiting for an event. Always empty for now: no step waits for an event "
            "yet."
        )
    )


@strawberry.input
class TrackEventInput:
    name: str
    customer_id: str
    properties: JSON | None = strawberry.field(
        default=None,
        description="A JSON object of at most 50 named values (a string of at most 1,000 "
        "characters, a number or a boolean), which a journey's triggerWhere reads.",
    )
    at: datetime | None = strawberry.field(
        default=None,
        description="When it happened, with an offset (at most 5 minutes ahead of now); "
        "now when not given.",
    )
