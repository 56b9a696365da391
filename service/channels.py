"""The workspace's webhook endpoint: set and cleared by admins, read by anyone of the
workspace (the URL and when it was set; the secret is never shown back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from domain.channels import checked_webhook_secret, checked_webhook_url
from service.clock import Clock
from service.tokens import Principal
from store import channels as channel_store
from store import tokens as token_store
from store.database import Database


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    configured_at: datetime
    configured_by: str


class WebhookEndpoints:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def get(self, principal: Principal) -> WebhookEndpoint | None:
        row = await self._database.read(
            lambda connection: channel_store.endpoint(connection, principal.workspace_id)
        )
        return WebhookEndpoint(row.url, row.configured_at, row.configured_by) if row else None

    async def set(self, principal: Principal, url: str, secret: str) -> WebhookEndpoint:
        """Set (or replace) the workspace's endpoint. Messages handed over from now
        on go there; an attempt already under way keeps the endpoint it began with."""
        principal.require_admin("setting the webhook endpoint")
        url = checked_webhook_url(url)
        secret = checked_webhook_secret(secret)
        now = self._clock.now()
        endpoint = WebhookEndpoint(url, now, principal.token_name)

        def store(connection: Connection) -> None:
            token_store.ensure_workspace(connection, principal.workspace_id, now)
            channel_store.set_endpoint(
                connection, principal.workspace_id, url, secret, now, principal.token_name
            )

        await self._database.transaction(store)
        return endpoint

    async def clear(self, principal: Principal) -> bool:
        """Remove the endpoint: webhook messages fail (and are retried) until one is
        set again. False when there was none."""
        principal.require_admin("clearing the webhook endpoint")

        def clear(connection: Connection) -> bool:
            return channel_store.clear_endpoint(connection, principal.workspace_id)

        return await self._database.transaction(clear)
