"""Customers entering journeys: by event, or by list."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.entry import MAX_ENROLL_BATCH, MAX_EVENT_BATCH
from gql.context import Info
from gql.entry.types import (
    EnrollmentResult,
    RefusedJourney,
    RejectedCustomer,
    TrackEventInput,
    TrackResult,
)
from gql.ids import journey_id as parse_journey_id
from gql.journeys.types import JourneyType
from service.entry import Tracked, TrackedEvent


async def _track_results(info: Info, results: list[Tracked]) -> list[TrackResult]:
    loader = info.context.journey_loader()
    # Each journey typed once, however many of the events entered it.
    shown: dict[str, JourneyType] = {}
    named = (j for t in results for j in (*t.converted, *t.released, *t.entered))
    for journey_id in dict.fromkeys(named):
        journey = await loader.load(journey_id)
        if journey is not None:
            shown[journey_id] = JourneyType.of(journey)
    return [
        TrackResult(
            entered=[shown[j] for j in tracked.entered if j in shown],
            refused=[
                RefusedJourney(journey_id=strawberry.ID(r.journey_id), reason=r.reason)
                for r in tracked.refused
            ],
            converted=[shown[j] for j in tracked.converted if j in shown],
            released=[shown[j] for j in tracked.released if j in shown],
        )
        for tracked in results
    ]


@strawberry.type
class EntryMutations:
    @strawberry.mutation(
        description="The customer did something: the event is kept (with its properties "
        "and time; the customer gets a profile if it had none) and the customer enters "
        "every event-triggered journey of your workspace that listens for this event, "
        "whose triggerWhere its properties meet, and that admits new customers now. "
        "Journeys it triggers that do not admit are listed with the reason; a journey "
        "whose triggerWhere the properties do not meet was not triggered and is not listed."
    )
    async def track_event(
        self,
        info: Info,
        name: str,
        customer_id: str,
        properties: JSON | None = None,
        at: datetime | None = None,
    ) -> TrackResult:
        principal = await info.context.principal()
        tracked = await info.context.services.entry.track(
            principal, [TrackedEvent(name, customer_id, properties, at)], indexed=False
        )
        [result] = await _track_results(info, tracked)
        return result

    @strawberry.mutation(
        description=f"trackEvent for up to {MAX_EVENT_BATCH} events at once, in one "
        "transaction; one result per event, in order. A bad event (its name, properties "
        "or time) refuses the whole call, naming it by index (events[3]: ...), and "
        "nothing is tracked."
    )
    async def track_events(self, info: Info, events: list[TrackEventInput]) -> list[TrackResult]:
        principal = await info.context.principal()
        results = await info.context.services.entry.track(
            principal,
            [
                TrackedEvent(event.name, event.customer_id, event.properties, event.at)
                for event in events
            ],
        )
        return await _track_results(info, results)

    @strawberry.mutation(
        description=f"Admit up to {MAX_ENROLL_BATCH} customers into a journey if it admits "
        "now; each customer not admitted is listed with the reason."
    )
    async def enroll_customers(
        self, info: Info, journey_id: strawberry.ID, customer_ids: list[str]
    ) -> EnrollmentResult:
        principal = await info.context.principal()
        result = await info.context.services.entry.enroll(
            principal, parse_journey_id(journey_id), customer_ids
        )
        return EnrollmentResult(
            admitted=result.admitted,
            rejected=[
                RejectedCustomer(customer_id=r.customer_id, reason=r.reason)
                for r in result.rejected
            ],
        )
