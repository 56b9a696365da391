"""A real SMTP server for the email channel (aiosmtpd), on 127.0.0.1 in a thread: it
records every message it takes, counts its connections, and refuses, delays or drops
what the test tells it to. Its certificates come from a `trustme` CA."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOST = "127.0.0.1"
USERNAME = "journeys"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Received:
    mail_from: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.data, policy=policy.default))


@dataclass
class Mailbox:
    """The server's handler, and what the test tells it to do."""

    # recipient: the reply to its RCPT ("550 5.1.1 no such user")
    refuse: dict[str, str] = field(default_factory=dict)
    # recipient: the reply to the DATA of a message to it ("451 4.3.0 try later")
    refuse_data: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None  # messages taken before it drops the connection at DATA
    delay: float = 0.0  # seconds it waits before answering DATA
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    logins: list[str] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        return [recipient for message in self.received for recipient in message.recipients]

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.drop_after is not None and len(self.received) >= self.drop_after:
            assert server.transport is not None
            server.transport.abort()
            return "421 gone"
        if self.delay:
            await asyncio.sleep(self.delay)
        for recipient in envelope.rcpt_tos:
            if recipient in self.refuse_data:
                return self.refuse_data[recipient]
        data = envelope.original_content or envelope.content
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode()
        if (login, data.password.decode()) != (USERNAME, PASSWORD):
            return AuthResult(success=False, handled=False)
        self.logins.append(login)
        return AuthResult(success=True)


class _CountingSMTP(SMTP):
    _counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called again once STARTTLS has upgraded the connection: counted once.
        if not self._counted:
            self._counted = True
            cast(Mailbox, self.event_handler).connections += 1
        super().connection_made(transport)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(context)
    return context


@contextmanager
def smtp_server(
    mailbox: Mailbox, *, starttls: ssl.SSLContext | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[int]:
    """Serve `mailbox` on a free port (yielded): plain, with STARTTLS required, or TLS
    from the first byte. A login is offered once the connection is secure."""
    port = free_port()
    controller = _Controller(
        mailbox,
        hostname=HOST,
        port=port,
        ssl_context=tls,
        server_hostname="mail.test",
        tls_context=starttls,
        require_starttls=starttls is not None,
        authenticator=mailbox.authenticate,
        # aiosmtpd knows only STARTTLS's TLS; TLS from the first byte is secure too.
        auth_require_tls=tls is None,
    )
    controller.start()
    mailbox.connections = 0  # the controller's own probe
    try:
        yield port
    finally:
        controller.stop()
