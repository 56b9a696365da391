"""The workspace's webhook endpoint: where the `webhook` channel POSTs its messages."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.context import Info
from service.channels import WebhookEndpoint


@strawberry.type(
    name="WebhookEndpoint",
    description="Where the webhook channel POSTs this workspace's messages, signed with a "
    "secret that is never shown back.",
)
class WebhookEndpointType:
    url: str
    configured_at: datetime
    configured_by: str = strawberry.field(description="The name of the token that set it.")

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointType:
        return cls(
            url=endpoint.url,
            configured_at=endpoint.configured_at,
            configured_by=endpoint.configured_by,
        )


@strawberry.type
class WebhookQueries:
    @strawberry.field(
        description="Your workspace's webhook endpoint, or null when none is set (a message "
        "on the webhook channel then fails and is retried)."
    )
    async def webhook_endpoint(self, info: Info) -> WebhookEndpointType | None:
        principal = await info.context.principal()
        endpoint = await info.context.services.webhook_endpoints.get(principal)
        return WebhookEndpointType.of(endpoint) if endpoint else None


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description="Admins only: set (or replace) the workspace's webhook endpoint: an "
        "http:// or https:// URL, and a secret of 16 to 200 characters that signs every "
        "message (HMAC-SHA256; README, 'The webhook channel')."
    )
    async def set_webhook_endpoint(self, info: Info, url: str, secret: str) -> WebhookEndpointType:
        principal = await info.context.principal()
        endpoint = await info.context.services.webhook_endpoints.set(principal, url, secret)
        return WebhookEndpointType.of(endpoint)

    @strawberry.mutation(
        description="Admins only: remove the workspace's webhook endpoint; true when there "
        "was one. Webhook messages then fail, and are retried, until one is set again."
    )
    async def clear_webhook_endpoint(self, info: Info) -> bool:
        principal = await info.context.principal()
        return await info.context.services.webhook_endpoints.clear(principal)
