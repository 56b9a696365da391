"""The email channel's pure rules: what one address is, the sender's checks, and the
email a message becomes (one Subject whatever the subject held, UTF-8 that decodes back,
an HTML body beside its text, a Message-ID the same on every attempt)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import cast
from uuid import UUID

import pytest

from domain.email import (
    EmailSecurity,
    checked_email_sender,
    email_address,
    email_message,
    text_of_html,
)
from domain.errors import ValidationFailed

DATE = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PUBLIC_ID = UUID("2976c6d0-648e-4bcc-d228-95ba1922298e")
FROM = "news@shop.example"


def sent(subject: str, body: str, public_id: UUID = PUBLIC_ID) -> EmailMessage:
    """The email as a receiver parses it from the bytes sent."""
    message = email_message(FROM, "ann@example.com", subject, body, DATE, public_id)
    return cast(EmailMessage, message_from_bytes(message.as_bytes(), policy=policy.default))


def content(part: object) -> str:
    """A part's text, its lines ended as Python's (SMTP sends CRLF)."""
    return str(cast(EmailMessage, part).get_content()).replace("\r\n", "\n")


@pytest.mark.parametrize(
    "value",
    ["ann@example.com", "a.b+tag@mail.example.co.uk", '"ann smith"@example.com', "x@[10.0.0.1]"],
)
def test_valid_addresses(value: str):
    assert email_address(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        "",
        "ann",
        "ann@",
        "@example.com",
        "ann @example.com",
        " ann@example.com",
        "ann@example.com ",
        "Ann <ann@example.com>",
        "ann@example.com, bob@example.com",
        "ann@example.com (Ann)",
        "ann@example.com\r\nBcc: eve@example.com",
        "ann@exa\nmple.com",
        "ann@example..com",
        "ann@example.com.",
        "a" * 250 + "@example.com",
    ],
)
def test_invalid_addresses(value: object):
    assert email_address(value) is None


def test_one_subject_header_even_when_the_subject_held_line_breaks():
    message = sent("Hi\r\nBcc: eve@example.com\nX-Evil: 1", "Hello")
    assert message.get_all("Subject") == ["Hi Bcc: eve@example.com X-Evil: 1"]
    assert message["Bcc"] is None and message["X-Evil"] is None


def test_a_utf8_subject_and_body_decode_back():
    message = sent("Grüße, Zoë 🎉", "Schöne Grüße\nfrom us")
    assert message["Subject"] == "Grüße, Zoë 🎉"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert content(message) == "Schöne Grüße\nfrom us\n"
    assert message["Date"] == "Sun, 01 Mar 2026 09:30:00 +0000"
    assert (message["From"], message["To"]) == (FROM, "ann@example.com")


def test_the_message_id_is_the_public_id_at_the_senders_domain():
    first = sent("Hi", "Hello")
    again = sent("Hi", "Hello")  # the next attempt at the same message
    assert (
        first["Message-ID"]
        == again["Message-ID"]
        == ("<2976c6d0648e4bccd22895ba1922298e@shop.example>")
    )
    other = sent("Hi", "Hello", UUID(int=1))
    assert other["Message-ID"] != first["Message-ID"]


@pytest.mark.parametrize(
    "body",
    [
        "  <p>Hello <b>Ann</b> &amp; welcome</p><br>See you",
        "Dear Ann,<br>Hello <b>Ann</b> &amp; welcome<p>See you</p>",
        "<!doctype html><html><head><style>p {}</style></head><body><p>Hello</p></body></html>",
    ],
)
def test_an_html_body_is_sent_beside_its_text(body: str):
    message = sent("Hi", body)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert content(html) == body + "\n"
    plain = content(text)
    assert "<" not in plain and "Hello" in plain and "p {}" not in plain


def test_the_text_of_html_keeps_lines_and_entities():
    html = "<h1>Offer</h1><p>Save 10&nbsp;% &amp; more</p><ul><li>one</li><li>two</li></ul>"
    assert text_of_html(html) == "Offer\n\nSave 10 % & more\n\none\n\ntwo\n"


def test_a_plain_body_with_a_less_than_sign_stays_plain():
    assert sent("Hi", "Prices from 3 < 5 euros").get_content_type() == "text/plain"


def check(**changes: object) -> None:
    values: dict[str, object] = {
        "host": "smtp.example.com",
        "port": 587,
        "security": EmailSecurity.STARTTLS,
        "username": "user",
        "password": "secret",
        "from_address": FROM,
    }
    checked_email_sender(**{**values, **changes})  # type: ignore[arg-type]


def test_a_valid_sender():
    sender = checked_email_sender(
        "smtp.example.com", 465, EmailSecurity.TLS, "user", "pw", "news@shop.example"
    )
    assert (sender.host, sender.port, sender.security) == ("smtp.example.com", 465, "TLS")
    for host in ("10.0.0.5", "::1", "localhost", "mail-1.example.com.", "xn--bcher-kva.example"):
        check(host=host)
    check(security=EmailSecurity.NONE, username=None, password=None)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"host": ""}, "must not be empty"),
        ({"host": " smtp.example.com"}, "must not be empty or start or end with spaces"),
        ({"host": "smtp example.com"}, "must not contain spaces"),
        ({"host": "smtp.example.com\r\n"}, "must not be empty or start or end with spaces"),
        ({"host": "smtp\x00.example.com"}, "control characters"),
        ({"host": "a" * 254}, "at most 253 characters"),
        ({"host": "smtp_1.example.com"}, "neither a host name"),
        ({"host": "bücher.example"}, "xn-- form"),
        ({"host": "-smtp.example.com"}, "neither a host name"),
        ({"port": 0}, "from 1 to 65535, not 0"),
        ({"port": 65536}, "from 1 to 65535"),
        ({"password": None}, "together, or neither"),
        ({"username": None}, "together, or neither"),
        ({"username": ""}, "username must not be empty"),
        ({"password": ""}, "password must not be empty"),
        ({"password": "pw\n"}, "without control characters"),
        ({"security": EmailSecurity.NONE}, "password in clear"),
        ({"from_address": "News <news@shop.example>"}, "one plain email address"),
        ({"from_address": "news@"}, "one plain email address"),
        ({"from_address": "news@shop.example\r\nBcc: x@y.z"}, "one plain email address"),
    ],
)
def test_an_invalid_sender_is_refused(changes: dict[str, object], says: str):
    with pytest.raises(ValidationFailed, match=says):
        check(**changes)
