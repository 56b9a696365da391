"""How customers entering journeys look over GraphQL: the events they send, and who entered."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from domain.entry import Refusal

if TYPE_CHECKING:
    from gql.journeys.types import JourneyType

strawberry.enum(Refusal, name="AdmissionRefusal", description="Why a customer did not enter.")


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
            description="The journeys whose goal this event was: its customer left them, "
            "converted, whatever node they were at."
        )
    )
    released: list[Annotated[JourneyType, strawberry.lazy("gql.journeys.types")]] = (
        strawberry.field(
            description="The journeys in which this event released its customer from a "
            "WAIT_FOR_EVENT node waiting for it: they moved on to its next node."
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
