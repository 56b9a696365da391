"""A marketer's preview: a SEND's subject and body as one customer would get them now,
rendered from the customer's profile and the event that last admitted them into the
journey (none: `event` is empty). It reads, and changes nothing."""

from __future__ import annotations

from sqlalchemy import Connection

from domain.errors import NotFound, ValidationFailed
from domain.flow import NodeType, quoted
from domain.templates import Rendered, RenderFailed, Variables, render
from service.tokens import Principal
from store import customers as customer_store
from store import messages as message_store
from store import queries
from store.database import Database
from store.journey_rows import read_version


class MessagePreviews:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def render(
        self, principal: Principal, journey_id: str, node_key: str, customer_id: str
    ) -> Rendered:
        """The message of the SEND `node_key` of the journey's live version (its latest
        while nothing is live) for `customer_id`, or NotFound / ValidationFailed (a
        template that fails for this customer, with its reason)."""
        workspace_id = principal.workspace_id

        def read(connection: Connection) -> Rendered:
            journey = queries.journeys_by_id(connection, workspace_id, [journey_id]).get(journey_id)
            if journey is None:
                raise NotFound(f"no journey with id {journey_id!r} in your workspace")
            # The journey comes with its latest version: another row is read only when
            # the live version is an older one.
            number = journey.live_version or journey.latest.number
            version = (
                journey.latest
                if number == journey.latest.number
                else read_version(connection, journey_id, number)
            )
            # Read in the same snapshot as the journey, whose live version is kept.
            assert version is not None
            node = next((n for n in version.content.nodes if n.key == node_key), None)
            if node is None:
                raise NotFound(f"the journey has no node {quoted(node_key)}")
            if node.type is not NodeType.SEND:
                raise ValidationFailed(
                    f"node {quoted(node_key)} is a {node.type} node; only a SEND has a message"
                )
            profile = customer_store.profile(connection, workspace_id, customer_id)
            if profile is None:
                raise NotFound(f"no customer with id {customer_id!r} in your workspace")
            event = message_store.last_admitting_event(connection, journey_id, customer_id)
            variables = Variables(customer_id, dict(profile.attributes), event, journey.name)
            try:
                return render(node.subject, node.body, variables)
            except RenderFailed as failed:
                raise ValidationFailed(
                    f"node {quoted(node_key)} cannot be rendered for {customer_id!r}: "
                    f"{failed.reason}"
                ) from None

        return await self._database.read(read)
