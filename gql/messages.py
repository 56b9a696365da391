"""A SEND's message as one customer would get it now: a marketer's preview."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.ids import journey_id as stored_journey_id


@strawberry.type(name="RenderedMessage", description="A message as one customer gets it.")
class RenderedMessageType:
    subject: str
    body: str


@strawberry.type
class MessageQueries:
    @strawberry.field(
        description="The subject and body the SEND node `nodeKey` of the journey (its live "
        "version, else its latest) would send `customerId` now, rendered from the profile and "
        "the event that last admitted them. Changes nothing. A template that fails for this "
        "customer is refused with its reason."
    )
    async def render_message(
        self, info: Info, journey_id: strawberry.ID, node_key: str, customer_id: str
    ) -> RenderedMessageType:
        principal = await info.context.principal()
        rendered = await info.context.services.message_previews.render(
            principal, stored_journey_id(journey_id), node_key, customer_id
        )
        return RenderedMessageType(subject=rendered.subject, body=rendered.body)
