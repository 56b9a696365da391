"""How a customer's profile, journeys and events look over GraphQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.customers import CustomerEvent
from gql.context import Info
from gql.journeys.types import JourneyType
from service.customers import CustomerJourney as Enrolled
from service.customers import Erasure, Profile, ProfileRefusal, Upserted

strawberry.enum(
    ProfileRefusal, name="ProfileRefusal", description="Why a change to a profile was refused."
)


@strawberry.input(description="A change to a customer's profile.")
class CustomerInput:
    id: str
    attributes: JSON = strawberry.field(
        description="A JSON object: each key given is set (a string of at most 1,000 "
        "characters, a number or a boolean), a key given as null is removed, the others "
        "are kept."
    )


@strawberry.type(description="A change that was not applied, and why.")
class RejectedProfile:
    customer_id: str
    reason: ProfileRefusal
    message: str


@strawberry.type
class UpsertCustomersResult:
    created: int = strawberry.field(description="Profiles made by this call.")
    updated: int = strawberry.field(description="Existing profiles changed by this call.")
    rejected: list[RejectedProfile] = strawberry.field(
        description="Each change not applied, in the order given; it changed nothing."
    )

    @classmethod
    def of(cls, upserted: Upserted) -> UpsertCustomersResult:
        return cls(
            created=upserted.created,
            updated=upserted.updated,
            rejected=[
                RejectedProfile(customer_id=r.customer_id, reason=r.reason, message=r.message)
                for r in upserted.rejected
            ],
        )


@strawberry.type(description="Something the customer did.")
class TrackedEventRecord:
    name: str
    properties: JSON
    at: datetime

    @classmethod
    def of(cls, event: CustomerEvent) -> TrackedEventRecord:
        properties: Any = dict(event.properties)  # JSON is typed as a NewType of object
        return cls(name=event.name, properties=properties, at=event.at)


@strawberry.type(description="The customer in a journey: inside it now, or once.")
class CustomerJourney:
    state: str = strawberry.field(description="INSIDE, COMPLETED or EXITED.")
    step_index: int = strawberry.field(description="The index of its next step.")
    entered_at: datetime
    journey_id: strawberry.Private[str]

    @strawberry.field(description="The journey (null if it is no longer there).")
    async def journey(self, info: Info) -> JourneyType | None:
        found = await info.context.journey_loader().load(self.journey_id)
        return JourneyType.of(found) if found else None

    @classmethod
    def of(cls, enrolled: Enrolled) -> CustomerJourney:
        return cls(
            state=enrolled.state,
            step_index=enrolled.step_index,
            entered_at=enrolled.entered_at,
            journey_id=enrolled.journey_id,
        )


@strawberry.type(description="A customer's profile in your workspace.")
class Customer:
    id: str
    attributes: JSON
    created_at: datetime
    updated_at: datetime

    @strawberry.field(
        description="The journeys of your workspace the customer is in or was in, newest "
        "entry first (at most 100)."
    )
    async def journeys(self, info: Info) -> list[CustomerJourney]:
        found = await info.context.services.customers.journeys(info.context.caller, self.id)
        return [CustomerJourney.of(enrolled) for enrolled in found]

    @strawberry.field(description="The customer's latest events, latest first (first <= 100).")
    async def events(self, info: Info, first: int | None = 20) -> list[TrackedEventRecord]:
        found = await info.context.services.customers.events(info.context.caller, self.id, first)
        return [TrackedEventRecord.of(event) for event in found]

    @classmethod
    def of(cls, profile: Profile) -> Customer:
        attributes: Any = profile.attributes  # JSON is typed as a NewType of object
        return cls(
            id=profile.customer_id,
            attributes=attributes,
            created_at=profile.created_at,
            updated_at=profile.updated_at,
        )


@strawberry.type(description="What erasing a customer did.")
class DeleteCustomerResult:
    customer_id: str
    existed: bool = strawberry.field(
        description="Whether anything of the customer was found (a profile, events, list "
        "entries, journeys or messages)."
    )
    journeys_exited: int = strawberry.field(
        description="Journeys the customer was inside and was taken out of."
    )
    messages_cancelled: int = strawberry.field(
        description="Its messages not yet handed over, cancelled: never sent."
    )

    @classmethod
    def of(cls, erasure: Erasure) -> DeleteCustomerResult:
        return cls(
            customer_id=erasure.customer_id,
            existed=erasure.existed,
            journeys_exited=erasure.journeys_exited,
            messages_cancelled=erasure.messages_cancelled,
        )
