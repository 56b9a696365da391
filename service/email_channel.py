"""The `email` channel: each message an email through the workspace's SMTP server
(its email sender), to the customer's `email` attribute.

A batch's attempts are grouped by workspace, and each group goes through ONE SMTP
session: connect (TLS from the first byte, or STARTTLS, or neither, as the sender
says), log in when it has a username, one MAIL/RCPT/DATA per message, QUIT. The
groups of different workspaces go at once, at most `sessions` of them. Each step
waits at most the timeout, and the whole batch at most `time_to_send` (its
messages' lease): what is not sent by then fails, to be retried.

The outcomes (docs/rules.md, "Messages"):

- the server took the message (250 after DATA): delivered;
- the server refused the recipient for good (5xx at RCPT): failed for good, and
  it says nothing of the channel: it does not count in the journey's run of
  failures (the other messages of the session still go);
- the server refused the message for good (5xx after DATA): failed for good,
  counted (a server that refuses everything is a broken channel);
- a temporary refusal (4xx), the From address refused, a refused login, no
  connection, no answer within the timeout, the connection lost: failed, retried
  and counted. A session that ends early fails every message it had not sent;
- no sender configured: failed, retried and counted; no recipient: failed for good.

SMTP is at least once: a message the server took whose answer was lost is sent
again; its Message-ID (the delivery's public id) lets the receiver drop the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from email.errors import MessageError
from typing import Any

import aiosmtplib
from sqlalchemy import Connection

from domain.channels import EMAIL, attempt_error
from domain.email import EmailSecurity, email_message
from service.attempts import Attempt, Outcome
from service.clock import Clock
from store import email_senders as sender_store

log = logging.getLogger("journeys.channel.email")

NO_SENDER = "no email sender is configured for the workspace (setEmailSender)"
NO_RECIPIENT = "the customer has no valid email address"
# A session's steps besides its messages: connect, EHLO, STARTTLS, EHLO, AUTH, QUIT.
SESSION_STEPS = 6
# A message's: MAIL, RCPT, DATA and the message itself.
STEPS_PER_MESSAGE = 4
# A working server takes a message in milliseconds: a second each is ample.
MESSAGE_SECONDS = 1.0


def default_tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Certificates verified against the system's CAs, and those of `ca_file` too."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class _SessionEnded(Exception):
    """The session cannot go on: every message it has not sent fails with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _answer(error: aiosmtplib.SMTPResponseException) -> str:
    return f"{error.code} {error.message}"


class EmailChannel:
    def __init__(
        self,
        clock: Clock,
        timeout_seconds: float,
        tls_context: Callable[[], ssl.SSLContext] | None = None,
        ca_file: str | None = None,
        sessions: int = 20,
        message_seconds: float = MESSAGE_SECONDS,
    ) -> None:
        """`timeout_seconds` bounds each step of a session (connecting, each command);
        `tls_context` makes the context TLS connections verify with (by default the
        system's CAs and those of `ca_file`)."""
        self._clock = clock
        self._timeout = timeout_seconds
        self._make_tls_context = tls_context or (lambda: default_tls_context(ca_file))
        self._tls_context: ssl.SSLContext | None = None
        self._sessions = sessions
        self._message_seconds = message_seconds
        self._local_hostname: str | None = None

    def destinations(
        self, connection: Connection, workspace_ids: Sequence[str]
    ) -> Mapping[str, Any]:
        """{workspace id: its sender (host, port, security, login, From)}, for those
        that have one."""
        return sender_store.senders(connection, workspace_ids)

    def time_to_send(self, attempts: int) -> timedelta:
        """A session's steps and one slow message each within the timeout, and a second
        for each message: `send_all` fails what is not sent by then."""
        if not attempts:
            return timedelta()
        steps = SESSION_STEPS + STEPS_PER_MESSAGE
        return timedelta(seconds=steps * self._timeout + attempts * self._message_seconds)

    def describe(self, destination: Any) -> str:
        if destination is None:
            return EMAIL
        return f"{EMAIL} {destination.host}:{destination.port}"

    async def send_all(self, attempts: Sequence[Attempt]) -> list[Outcome]:
        """Every attempt's outcome, a workspace's in the order it sent them."""
        if not attempts:
            return []
        budget = self.time_to_send(len(attempts)).total_seconds()
        deadline = asyncio.get_running_loop().time() + budget
        groups: dict[str, list[Attempt]] = defaultdict(list)
        for attempt in attempts:
            groups[attempt.workspace_id].append(attempt)
        gate = asyncio.Semaphore(self._sessions)

        async def bounded(group: list[Attempt]) -> list[Outcome]:
            async with gate:
                return await self._send_group(group, deadline, budget)

        tasks = [asyncio.ensure_future(bounded(group)) for group in groups.values()]
        outcomes: list[Outcome] = []
        for done in asyncio.as_completed(tasks):
            outcomes += await done
        return outcomes

    async def _send_group(
        self, attempts: list[Attempt], deadline: float, budget: float
    ) -> list[Outcome]:
        """One workspace's attempts, through one session with its sender, all ended by
        `deadline` (the loop's time, `budget` seconds after the batch began)."""
        outcomes: list[Outcome] = []
        ready: list[Attempt] = []
        for attempt in attempts:
            if attempt.recipient is None:
                outcomes.append(
                    Outcome(attempt, False, NO_RECIPIENT, final=True, counts_in_run=False)
                )
            else:
                ready.append(attempt)
        sender = ready[0].destination if ready else None
        if sender is None:
            return outcomes + [Outcome(attempt, False, NO_SENDER) for attempt in ready]
        client = await self._client(sender)
        sent = 0  # ready[:sent] have their outcome
        try:
            async with asyncio.timeout_at(deadline):
                await self._connect(client, sender)
                for attempt in ready:
                    # On Python 3.11 the timeout's cancellation is lost when it meets
                    # a reply in the same turn of the loop (asyncio.wait_for, which
                    # aiosmtplib awaits replies with): the deadline is checked too.
                    if asyncio.get_running_loop().time() >= deadline:
                        raise TimeoutError
                    outcomes.append(await self._send_one(client, sender, attempt))
                    sent += 1
                    if not client.is_connected:
                        raise _SessionEnded("the server closed the connection")
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()  # every message has its outcome already
            reason = None
        except _SessionEnded as ended:
            reason = ended.reason
        except TimeoutError:
            reason = f"the batch was not sent within {budget:g} s"
        finally:
            client.close()
        if reason is not None and sent < len(ready):
            where = self.describe(sender)
            log.warning("%s: %d messages not sent: %s", where, len(ready) - sent, reason)
            outcomes += [Outcome(attempt, False, attempt_error(reason)) for attempt in ready[sent:]]
        return outcomes

    async def _client(self, sender: Any) -> aiosmtplib.SMTP:
        security = EmailSecurity(sender.security)
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        if security is not EmailSecurity.NONE and self._tls_context is None:
            self._tls_context = self._make_tls_context()
        return aiosmtplib.SMTP(
            hostname=sender.host,
            port=sender.port,
            username=sender.username,
            password=sender.password,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            use_tls=security is EmailSecurity.TLS,
            start_tls=security is EmailSecurity.STARTTLS,
            tls_context=self._tls_context if security is not EmailSecurity.NONE else None,
        )

    async def _connect(self, client: aiosmtplib.SMTP, sender: Any) -> None:
        """Connect, secure and log in; or _SessionEnded saying what went wrong."""
        where = f"{sender.host}:{sender.port}"
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as error:
            raise _SessionEnded(f"the login was refused: {_answer(error)}") from None
        except aiosmtplib.SMTPTimeoutError:
            raise _SessionEnded(f"no answer from {where} within {self._timeout:g} s") from None
        except aiosmtplib.SMTPResponseException as error:
            raise _SessionEnded(f"{where} refused the session: {_answer(error)}") from None
        except (aiosmtplib.SMTPConnectError, OSError) as error:
            # aiosmtplib wraps the socket's error (the certificate's among them).
            cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
            if isinstance(cause, ssl.SSLCertVerificationError):
                problem = cause.verify_message or str(cause)
                raise _SessionEnded(f"{where}'s certificate is not trusted: {problem}") from None
            raise _SessionEnded(f"could not connect to {where}: {cause}") from None
        except aiosmtplib.SMTPException as error:  # no STARTTLS, no AUTH offered
            raise _SessionEnded(f"{where}: {error}") from None

    async def _send_one(self, client: aiosmtplib.SMTP, sender: Any, attempt: Attempt) -> Outcome:
        """One message's outcome; _SessionEnded when the session cannot go on."""
        assert attempt.recipient is not None
        try:
            message = email_message(
                sender.from_address,
                attempt.recipient,
                attempt.message.subject,
                attempt.message.body,
                self._clock.now(),
                attempt.public_id,
            )
        except (ValueError, UnicodeError, MessageError) as error:
            # This message's own problem: the next one may go.
            problem = attempt_error(f"the email could not be made: {error}")
            return Outcome(attempt, False, problem, final=True, counts_in_run=False)
        try:
            await client.send_message(
                message, sender=sender.from_address, recipients=[attempt.recipient]
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            return self._refused(attempt, error.recipients[0])
        except aiosmtplib.SMTPRecipientRefused as error:
            return self._refused(attempt, error)
        except aiosmtplib.SMTPSenderRefused as error:
            return Outcome(
                attempt, False, attempt_error(f"the From address was refused: {_answer(error)}")
            )
        except aiosmtplib.SMTPDataError as error:
            refused = f"the message was refused: {_answer(error)}"
            return Outcome(attempt, False, attempt_error(refused), final=error.code >= 500)
        except aiosmtplib.SMTPTimeoutError:
            raise _SessionEnded(f"no answer within {self._timeout:g} s") from None
        except aiosmtplib.SMTPServerDisconnected:
            raise _SessionEnded("the server closed the connection") from None
        except aiosmtplib.SMTPResponseException as error:
            return Outcome(attempt, False, attempt_error(f"SMTP {_answer(error)}"))
        except (aiosmtplib.SMTPNotSupported, ValueError) as error:
            # An address this server cannot take (SMTPUTF8): this message's problem.
            return Outcome(
                attempt, False, attempt_error(str(error)), final=True, counts_in_run=False
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise _SessionEnded(f"the session failed: {error}") from None
        return Outcome(attempt, True)

    @staticmethod
    def _refused(attempt: Attempt, error: aiosmtplib.SMTPRecipientRefused) -> Outcome:
        if error.code >= 500:
            # Refused for good: this recipient's, not the channel's.
            refused = f"the recipient was refused: {_answer(error)}"
            return Outcome(attempt, False, attempt_error(refused), final=True, counts_in_run=False)
        return Outcome(
            attempt, False, attempt_error(f"the recipient was deferred: {_answer(error)}")
        )

    async def close(self) -> None:
        """Nothing stays open between batches: each session is closed when it ends."""
