"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1, in a thread):
`EmailChannel.send_all` driven directly with attempts, plain, with STARTTLS and a
login, and with TLS from the first byte (certificates from a `trustme` CA); one session
for a workspace's batch; and each outcome: a recipient refused for good fails alone and
does not count, a temporary refusal counts, and a lost connection or a server that is
down fails what was not sent."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import trustme

from domain.email import EmailSecurity
from domain.templates import Rendered
from service.attempts import Attempt, Outcome
from service.clock import ManualClock
from service.email_channel import NO_RECIPIENT, NO_SENDER, EmailChannel
from service.services import Services
from tests.conftest import T0, Callers
from tests.smtp_server import (
    HOST,
    PASSWORD,
    USERNAME,
    Mailbox,
    free_port,
    server_context,
    smtp_server,
)

pytestmark = pytest.mark.anyio

FROM = "news@shop.example"
WELCOME = Rendered("Welcome", "Hello there")


@dataclass(frozen=True)
class Sender:
    """A destination as the store reads it (store/email_senders.py)."""

    host: str
    port: int
    security: str = EmailSecurity.NONE.value
    username: str | None = None
    password: str | None = None
    from_address: str = FROM


def attempt(
    sender: Sender | None,
    recipient: str | None,
    workspace: str = "acme",
    public_id: UUID | None = None,
    message: Rendered = WELCOME,
) -> Attempt:
    return Attempt(
        delivery_id=1,
        public_id=public_id or uuid4(),
        journey_id="j1",
        workspace_id=workspace,
        customer_id=recipient or "nobody",
        channel="email",
        template="welcome",
        number=1,
        destination=sender,
        message=message,
        recipient=recipient,
    )


def channel(timeout: float = 2.0, **options: object) -> EmailChannel:
    return EmailChannel(ManualClock(T0), timeout_seconds=timeout, **options)  # type: ignore[arg-type]


def by_recipient(outcomes: list[Outcome]) -> dict[str | None, Outcome]:
    return {outcome.attempt.recipient: outcome for outcome in outcomes}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def plain(mailbox: Mailbox) -> Iterator[Sender]:
    with smtp_server(mailbox) as port:
        yield Sender(HOST, port)


async def test_plain_smtp_delivers_one_email_per_attempt(plain: Sender, mailbox: Mailbox):
    sent = attempt(plain, "ann@example.com", message=Rendered("Grüße, Ann", "Hello Ann"))
    [outcome] = await channel().send_all([sent])
    assert (outcome.succeeded, outcome.error) == (True, None)
    [received] = mailbox.received
    assert (received.mail_from, received.recipients) == (FROM, ["ann@example.com"])
    message = received.message
    assert message["Subject"] == "Grüße, Ann"
    assert message["From"] == FROM and message["To"] == "ann@example.com"
    assert message["Message-ID"] == f"<{sent.public_id.hex}@shop.example>"
    assert message.get_content().strip() == "Hello Ann"


async def test_one_session_takes_a_workspaces_whole_batch(plain: Sender, mailbox: Mailbox):
    other = Sender(HOST, plain.port, from_address="hello@other.example")
    attempts = [attempt(plain, f"c{index}@example.com") for index in range(5)]
    attempts += [attempt(other, f"o{index}@example.com", workspace="other") for index in range(3)]
    outcomes = await channel().send_all(attempts)
    assert all(outcome.succeeded for outcome in outcomes)
    assert sorted(mailbox.recipients) == sorted(a.recipient for a in attempts)  # type: ignore[misc]
    assert mailbox.connections == 2  # one session for each workspace
    # A workspace's attempts end in the order they were given.
    acme = [o.attempt.recipient for o in outcomes if o.attempt.workspace_id == "acme"]
    assert acme == [f"c{index}@example.com" for index in range(5)]


async def test_starttls_with_a_login(mailbox: Mailbox, ca: trustme.CA, ca_file: str):
    with smtp_server(mailbox, starttls=server_context(ca)) as port:
        sender = Sender(HOST, port, "STARTTLS", USERNAME, PASSWORD)
        outcomes = await channel(ca_file=ca_file).send_all(
            [attempt(sender, "ann@example.com"), attempt(sender, "bob@example.com")]
        )
        assert [o.succeeded for o in outcomes] == [True, True]
        assert mailbox.logins == [USERNAME] and mailbox.connections == 1

        wrong = Sender(HOST, port, "STARTTLS", USERNAME, "wrong password")
        [refused] = await channel(ca_file=ca_file).send_all([attempt(wrong, "cy@example.com")])
        assert not refused.succeeded and not refused.final and refused.counts_in_run
        assert refused.error is not None and refused.error.startswith("the login was refused: 535")


async def test_tls_from_the_first_byte(mailbox: Mailbox, ca: trustme.CA):
    def trusting() -> ssl.SSLContext:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        return context

    with smtp_server(mailbox, tls=server_context(ca)) as port:
        sender = Sender(HOST, port, "TLS", USERNAME, PASSWORD)
        [outcome] = await channel(tls_context=trusting).send_all([attempt(sender, "a@example.com")])
        assert (outcome.succeeded, outcome.error) == (True, None)
        assert mailbox.logins == [USERNAME]


@pytest.mark.parametrize("security", ["TLS", "STARTTLS"])
async def test_a_certificate_from_an_unknown_ca_is_refused(
    mailbox: Mailbox, ca: trustme.CA, security: str
):
    context = server_context(ca)
    secured = {"tls": context} if security == "TLS" else {"starttls": context}
    with smtp_server(mailbox, **secured) as port:
        sender = Sender(HOST, port, security)
        [outcome] = await channel().send_all([attempt(sender, "a@example.com")])  # system CAs
    assert not outcome.succeeded and outcome.counts_in_run and not outcome.final
    assert outcome.error == f"{HOST}:{sender.port}'s certificate is not trusted: " + (
        "unable to get local issuer certificate"
    )
    assert mailbox.received == []


async def test_starttls_on_a_server_without_it_sends_nothing(plain: Sender, mailbox: Mailbox):
    sender = Sender(HOST, plain.port, "STARTTLS")
    [outcome] = await channel().send_all([attempt(sender, "a@example.com")])
    assert outcome.error == f"{HOST}:{plain.port}: SMTP STARTTLS extension not supported by server."
    assert mailbox.received == []


async def test_a_recipient_refused_for_good_fails_alone_and_does_not_count(
    plain: Sender, mailbox: Mailbox
):
    mailbox.refuse["gone@example.com"] = "550 5.1.1 no such user"
    mailbox.refuse["full@example.com"] = "451 4.2.2 mailbox full, try later"
    mailbox.refuse_data["slow@example.com"] = "452 4.3.1 insufficient storage"
    mailbox.refuse_data["spam@example.com"] = "554 5.7.1 looks like spam"
    names = ("ann", "gone", "bob", "full", "slow", "spam", "cy")
    outcomes = await channel().send_all([attempt(plain, f"{n}@example.com") for n in names])
    found = by_recipient(outcomes)
    assert [o.attempt.recipient for o in outcomes] == [f"{n}@example.com" for n in names]
    assert mailbox.recipients == ["ann@example.com", "bob@example.com", "cy@example.com"]
    assert mailbox.connections == 1
    gone = found["gone@example.com"]
    assert (gone.succeeded, gone.final, gone.counts_in_run) == (False, True, False)
    assert gone.error == "the recipient was refused: 550 5.1.1 no such user"
    for deferred in ("full@example.com", "slow@example.com"):
        outcome = found[deferred]
        assert (outcome.succeeded, outcome.final, outcome.counts_in_run) == (False, False, True)
    assert found["full@example.com"].error == (
        "the recipient was deferred: 451 4.2.2 mailbox full, try later"
    )
    assert found["slow@example.com"].error == (
        "the message was refused: 452 4.3.1 insufficient storage"
    )
    spam = found["spam@example.com"]
    assert (spam.succeeded, spam.final, spam.counts_in_run) == (False, True, True)


async def test_a_dropped_connection_fails_what_was_not_sent(plain: Sender, mailbox: Mailbox):
    mailbox.drop_after = 2
    names = [f"c{index}@example.com" for index in range(5)]
    outcomes = await channel().send_all([attempt(plain, name) for name in names])
    assert [o.attempt.recipient for o in outcomes] == names
    assert [o.succeeded for o in outcomes] == [True, True, False, False, False]
    for failed in outcomes[2:]:
        assert failed.counts_in_run and not failed.final
        assert failed.error == "the server closed the connection"
    assert mailbox.recipients == names[:2]


async def test_a_slow_server_fails_what_was_not_sent(plain: Sender, mailbox: Mailbox):
    mailbox.delay = 1.0
    outcomes = await channel(timeout=0.3).send_all(
        [attempt(plain, "ann@example.com"), attempt(plain, "bob@example.com")]
    )
    assert [(o.succeeded, o.counts_in_run, o.final) for o in outcomes] == [(False, True, False)] * 2
    assert {o.error for o in outcomes} == {"no answer within 0.3 s"}


async def test_what_is_not_sent_within_the_batchs_time_fails(plain: Sender, mailbox: Mailbox):
    # Each message within the step's timeout, but all of them not within the batch's
    # time to send (its lease): what is left fails, for a retry.
    mailbox.delay = 0.05
    email = channel(timeout=0.3, message_seconds=0.0)
    assert email.time_to_send(80).total_seconds() == 3.0
    outcomes = await email.send_all([attempt(plain, f"c{i}@example.com") for i in range(80)])
    delivered = [o for o in outcomes if o.succeeded]
    late = [o for o in outcomes if not o.succeeded]
    assert 10 <= len(delivered) < 80 and len(delivered) + len(late) == 80
    assert [o.attempt.recipient for o in delivered] == mailbox.recipients
    assert {(o.error, o.counts_in_run, o.final) for o in late} == {
        ("the batch was not sent within 3 s", True, False)
    }


async def test_the_batchs_time_holds_when_the_timeouts_cancellation_is_lost(
    plain: Sender, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
):
    # Python 3.11's asyncio.wait_for, which aiosmtplib awaits each reply with, drops a
    # cancellation that meets the reply in the same turn of the loop: as if the batch's
    # timeout never fired (every asyncio.timeout_at of this process, for this test: the
    # channel's is the only one), the deadline must still stop the batch.
    monkeypatch.setattr(asyncio, "timeout_at", lambda _: contextlib.nullcontext())
    mailbox.delay = 0.05
    email = channel(timeout=0.3, message_seconds=0.0)
    outcomes = await email.send_all([attempt(plain, f"c{i}@example.com") for i in range(80)])
    late = [o for o in outcomes if not o.succeeded]
    assert 0 < len(late) < 80
    assert {o.error for o in late} == {"the batch was not sent within 3 s"}


async def test_a_server_that_is_down_fails_every_attempt():
    down = Sender(HOST, free_port())
    outcomes = await channel().send_all(
        [attempt(down, "ann@example.com"), attempt(down, "bob@example.com")]
    )
    assert [(o.succeeded, o.counts_in_run, o.final) for o in outcomes] == [(False, True, False)] * 2
    error = outcomes[0].error
    assert error is not None and error.startswith(f"could not connect to {HOST}:{down.port}")


async def test_no_sender_and_no_recipient(plain: Sender, mailbox: Mailbox):
    outcomes = await channel().send_all(
        [attempt(None, "ann@example.com", workspace="bare"), attempt(plain, None)]
    )
    found = by_recipient(outcomes)
    unset = found["ann@example.com"]
    assert (unset.succeeded, unset.error, unset.final, unset.counts_in_run) == (
        False,
        NO_SENDER,
        False,
        True,
    )
    nobody = found[None]
    assert (nobody.error, nobody.final, nobody.counts_in_run) == (NO_RECIPIENT, True, False)
    assert mailbox.connections == 0


def test_describe_and_time_to_send():
    email = channel(timeout=10.0)
    assert email.describe(None) == "email"
    assert email.describe(Sender("smtp.example.com", 587)) == "email smtp.example.com:587"
    assert email.time_to_send(0).total_seconds() == 0
    assert email.time_to_send(100).total_seconds() == 10 * 10 + 100


async def test_the_sender_an_admin_set_is_where_the_email_goes(
    services: Services, callers: Callers, plain: Sender, mailbox: Mailbox
):
    await services.email_senders.set(
        callers.admin,
        host=HOST,
        port=plain.port,
        security=EmailSecurity.NONE,
        username=None,
        password=None,
        from_address="hello@acme.example",
    )
    email = channel()
    found = await services.database.read(
        lambda connection: email.destinations(connection, ["acme", "other"])
    )
    assert list(found) == ["acme"]
    assert email.describe(found["acme"]) == f"email {HOST}:{plain.port}"
    [outcome] = await email.send_all([attempt(found["acme"], "ann@example.com")])
    assert outcome.succeeded
    [received] = mailbox.received
    assert received.mail_from == "hello@acme.example"
