"""The workspace's email sender: the SMTP server the `email` channel sends through."""

from __future__ import annotations

from datetime import datetime

import strawberry

import gql.enums  # noqa: F401  (registers the domain's enums with GraphQL)
from domain.email import EmailSecurity
from gql.context import Info
from service.email_senders import EmailSender


@strawberry.type(
    name="EmailSender",
    description="The SMTP server the email channel sends this workspace's messages "
    "through. Its password is never shown back.",
)
class EmailSenderType:
    host: str
    port: int
    security: EmailSecurity
    username: str | None = strawberry.field(
        description="The login's user name, or null when the server takes mail without one."
    )
    from_address: str = strawberry.field(description="The From address of every email.")
    configured_at: datetime
    configured_by: str = strawberry.field(description="The name of the token that set it.")

    @classmethod
    def of(cls, sender: EmailSender) -> EmailSenderType:
        return cls(
            host=sender.host,
            port=sender.port,
            security=sender.security,
            username=sender.username,
            from_address=sender.from_address,
            configured_at=sender.configured_at,
            configured_by=sender.configured_by,
        )


@strawberry.input(description="An SMTP server, and the address the email channel sends from.")
class EmailSenderInput:
    host: str = strawberry.field(description="A host name (smtp.example.com) or an IP address.")
    port: int = strawberry.field(description="1 to 65535: usually 587 with STARTTLS, 465 with TLS.")
    security: EmailSecurity
    username: str | None = strawberry.field(
        default=None, description="With the password, or neither (no login)."
    )
    password: str | None = strawberry.field(
        default=None, description="Never shown back; a login needs STARTTLS or TLS."
    )
    from_address: str = strawberry.field(
        description="One plain address, as news@example.com (no display name)."
    )


@strawberry.type
class EmailSenderQueries:
    @strawberry.field(
        description="Your workspace's email sender, or null when none is set (a message on "
        "the email channel then fails and is retried)."
    )
    async def email_sender(self, info: Info) -> EmailSenderType | None:
        principal = await info.context.principal()
        sender = await info.context.services.email_senders.get(principal)
        return EmailSenderType.of(sender) if sender else None


@strawberry.type
class EmailSenderMutations:
    @strawberry.mutation(
        description="Admins only: set (or replace) the workspace's email sender: the SMTP "
        "server, how its connection is secured, an optional login and the From address "
        "(README, 'The email channel')."
    )
    async def set_email_sender(self, info: Info, input: EmailSenderInput) -> EmailSenderType:
        principal = await info.context.principal()
        sender = await info.context.services.email_senders.set(
            principal,
            host=input.host,
            port=input.port,
            security=input.security,
            username=input.username,
            password=input.password,
            from_address=input.from_address,
        )
        return EmailSenderType.of(sender)

    @strawberry.mutation(
        description="Admins only: remove the workspace's email sender; true when there was "
        "one. Email messages then fail, and are retried, until one is set again."
    )
    async def clear_email_sender(self, info: Info) -> bool:
        principal = await info.context.principal()
        return await info.context.services.email_senders.clear(principal)
