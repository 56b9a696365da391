"""The email channel's rules (docs/rules.md, "Messages"): a workspace's SMTP server and
its sender address, what counts as one email address, and the email a message becomes.

- A workspace has at most one email sender: a host and port, how the connection is
  secured (NONE, STARTTLS or TLS), an optional login (a user name and a password,
  both or neither, never over an unsecured connection) and the From address.
- A recipient is one plain address (`ann@example.com`): no display name, no list,
  no line break, at most 254 characters.
- Every email carries `Message-ID: <public id@domain of the From address>`: the same
  on each attempt at one message, so that a receiver can drop a repeat.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum
from html.parser import HTMLParser
from uuid import UUID

from domain.errors import ValidationFailed
from domain.text import one_line

MAX_HOST_LENGTH = 253
MAX_ADDRESS_LENGTH = 254  # RFC 5321's path limit, less its angle brackets
MAX_USERNAME_LENGTH = 320
MAX_PASSWORD_LENGTH = 500

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Bodies that are HTML: markup from their first character, or a tag an HTML email has.
_HTML_TAG = re.compile(r"<(?:html|body|p|br|div|table|a)\b", re.IGNORECASE)
# Tags after which the text part starts a new line.
_BLOCK_TAGS = frozenset(
    ("p", "br", "div", "li", "tr", "table", "ul", "ol", "blockquote", "pre", "hr", "title")
) | {f"h{level}" for level in range(1, 7)}
_HIDDEN_TAGS = frozenset(("script", "style", "head"))


class EmailSecurity(StrEnum):
    NONE = "NONE"  # plain SMTP: for a relay on a trusted network
    STARTTLS = "STARTTLS"  # plain connection upgraded to TLS before anything is sent (587)
    TLS = "TLS"  # TLS from the first byte (465)


@dataclass(frozen=True)
class EmailSenderSettings:
    """Where a workspace's email goes out, as checked by `checked_email_sender`."""

    host: str
    port: int
    security: EmailSecurity
    username: str | None
    password: str | None = field(repr=False)  # never in a log line, whatever prints this
    from_address: str


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") for char in text)


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def checked_email_sender(
    host: str,
    port: int,
    security: EmailSecurity,
    username: str | None,
    password: str | None,
    from_address: str,
) -> EmailSenderSettings:
    """The sender's settings, or ValidationFailed saying which is wrong and why."""
    if not host or host != host.strip():
        raise ValidationFailed("the SMTP host must not be empty or start or end with spaces")
    if len(host) > MAX_HOST_LENGTH:
        raise ValidationFailed(f"the SMTP host must be at most {MAX_HOST_LENGTH} characters")
    if " " in host or _has_control_characters(host):
        raise ValidationFailed("the SMTP host must not contain spaces or control characters")
    if not _is_host(host):
        raise ValidationFailed(
            f"the SMTP host {host!r} is neither a host name (letters, digits and hyphens "
            "between dots, as in smtp.example.com; an internationalized name in its xn-- "
            "form) nor an IP address"
        )
    if not 1 <= port <= 65535:
        raise ValidationFailed(
            f"the SMTP port must be from 1 to 65535, not {port} (usually 587 with STARTTLS, "
            "465 with TLS, 25 with NONE)"
        )
    if (username is None) != (password is None):
        raise ValidationFailed(
            "give the SMTP username and password together, or neither (no login)"
        )
    if username is not None and password is not None:
        if security is EmailSecurity.NONE:
            raise ValidationFailed(
                "logging in over an unsecured connection would send the password in clear; "
                "use STARTTLS or TLS, or no login"
            )
        if not username or username != username.strip():
            raise ValidationFailed(
                "the SMTP username must not be empty or start or end with spaces"
            )
        if len(username) > MAX_USERNAME_LENGTH or _has_control_characters(username):
            raise ValidationFailed(
                f"the SMTP username must be at most {MAX_USERNAME_LENGTH} characters, "
                "without control characters"
            )
        if not password:
            raise ValidationFailed("the SMTP password must not be empty")
        if len(password) > MAX_PASSWORD_LENGTH or _has_control_characters(password):
            raise ValidationFailed(
                f"the SMTP password must be at most {MAX_PASSWORD_LENGTH} characters, "
                "without control characters"
            )
    address = email_address(from_address)
    if address is None:
        raise ValidationFailed(
            "the From address must be one plain email address, as news@example.com "
            f"(no display name, at most {MAX_ADDRESS_LENGTH} characters)"
        )
    return EmailSenderSettings(host, port, security, username, password, address)


def email_address(value: object) -> str | None:
    """The address, when `value` is a string that is exactly one plain email address
    (`ann@example.com`, no display name, no comment, no surrounding spaces); else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_ADDRESS_LENGTH:
        return None
    if _has_control_characters(value) or value != value.strip():
        return None  # CR and LF are control characters: no header can be added
    try:
        address = Address(addr_spec=value)
    except Exception:  # the parser raises ValueError, IndexError and header defects
        return None
    if not address.username or not address.domain or address.domain.endswith("."):
        return None
    if address.addr_spec != value:
        return None  # a comment, or something the parser dropped
    return value


def looks_like_html(body: str) -> bool:
    return body.lstrip().startswith("<") or _HTML_TAG.search(body) is not None


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self._parts).splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def text_of_html(html: str) -> str:
    """The HTML's text, tags dropped, a line per block: the plain part beside it."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return parser.text()


def message_id(public_id: UUID, from_address: str) -> str:
    """`<public id in hex@domain of the From address>`: the same on every attempt."""
    return f"<{public_id.hex}@{from_address.rpartition('@')[2]}>"


def email_message(
    from_address: str,
    recipient: str,
    subject: str,
    body: str,
    date: datetime,
    public_id: UUID,
) -> EmailMessage:
    """The email one message becomes: From, To, one Subject line, the given Date, a
    Message-ID stable across attempts, and a UTF-8 text part; an HTML body is sent as
    multipart/alternative with its text beside it."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = from_address
    message["To"] = recipient
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id(public_id, from_address)
    if looks_like_html(body):
        message.set_content(text_of_html(body), subtype="plain", charset="utf-8")
        message.add_alternative(body, subtype="html", charset="utf-8")
    else:
        message.set_content(body, subtype="plain", charset="utf-8")
    return message
