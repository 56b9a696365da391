"""The workspace's email sender (its SMTP server): set and cleared by admins, read by
anyone of the workspace. The password is never shown back, nor logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from domain.email import EmailSecurity, checked_email_sender
from service.clock import Clock
from service.tokens import Principal
from store import email_senders as sender_store
from store import tokens as token_store
from store.database import Database


@dataclass(frozen=True)
class EmailSender:
    """What anyone of the workspace sees of its sender: everything but the password."""

    host: str
    port: int
    security: EmailSecurity
    username: str | None
    has_password: bool
    from_address: str
    configured_at: datetime
    configured_by: str

    @classmethod
    def of(cls, row: Any) -> EmailSender:
        return cls(
            host=row.host,
            port=row.port,
            security=EmailSecurity(row.security),
            username=row.username,
            has_password=row.password is not None,
            from_address=row.from_address,
            configured_at=row.configured_at,
            configured_by=row.configured_by,
        )


class EmailSenders:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def get(self, principal: Principal) -> EmailSender | None:
        row = await self._database.read(
            lambda connection: sender_store.sender(connection, principal.workspace_id)
        )
        return EmailSender.of(row) if row else None

    async def set(
        self,
        principal: Principal,
        *,
        host: str,
        port: int,
        security: EmailSecurity,
        username: str | None,
        password: str | None,
        from_address: str,
    ) -> EmailSender:
        """Set (or replace) the workspace's sender. Messages handed over from now on go
        through it; an attempt already under way keeps the sender it began with."""
        principal.require_admin("setting the email sender")
        settings = checked_email_sender(host, port, security, username, password, from_address)
        now = self._clock.now()

        def store(connection: Connection) -> None:
            token_store.ensure_workspace(connection, principal.workspace_id, now)
            sender_store.set_sender(
                connection, principal.workspace_id, settings, now, principal.token_name
            )

        await self._database.transaction(store)
        return EmailSender(
            host=settings.host,
            port=settings.port,
            security=settings.security,
            username=settings.username,
            has_password=settings.password is not None,
            from_address=settings.from_address,
            configured_at=now,
            configured_by=principal.token_name,
        )

    async def clear(self, principal: Principal) -> bool:
        """Remove the sender: email messages fail (and are retried) until one is set
        again. False when there was none."""
        principal.require_admin("clearing the email sender")

        def clear(connection: Connection) -> bool:
            return sender_store.clear_sender(connection, principal.workspace_id)

        return await self._database.transaction(clear)
