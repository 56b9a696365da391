"""The channels' rules (docs/rules.md, "Channels"): their names, the webhook endpoint's
values, and how a failing channel is retried and counted.

- A workspace has at most one webhook endpoint: an http(s) URL and a secret
  the messages are signed with.
- A message the channel did not take (any answer but 2xx, a timeout, no
  connection, no endpoint configured) is tried again after a delay that
  doubles from attempt to attempt, up to a bounded number of attempts; then
  it has FAILED. Between attempts it stays HANDED_OVER: it was given to the
  channel once, and is not recalled.
- Consecutive failed attempts are counted per journey, a success starts the
  count again; at the limit the system takes FAIL (the journey goes to ERROR).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from domain.errors import ValidationFailed
from domain.statuses import Status
from domain.text import plain_text

# The channels' names, as a SEND step and the metrics' `channel` label spell them
# (how each is handed over and sent: service/channel_table.py).
LOG = "log"  # this process's own log (logger journeys.channel.log)
WEBHOOK = "webhook"  # a signed HTTP POST to the workspace's endpoint
EMAIL = "email"  # an email through the workspace's SMTP server, to the profile's `email`
# The channels a SEND may name.
CHANNELS = (LOG, WEBHOOK, EMAIL)
MAX_URL_LENGTH = 2000
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200
# However many attempts are allowed, one never waits longer than this for the next.
MAX_RETRY_DELAY = timedelta(hours=1)
# What a journey's error reason and a delivery's last error keep of a failure.
MAX_ERROR_LENGTH = 500

# A message handed over is never recalled: its retries go on whatever the
# journey does next (PAUSE, FREEZE, ABORT included) until it is delivered or
# out of attempts. Only ERROR holds them, the fault their failures may have
# caused: they wait for RECOVER (or ABORT) instead of hammering a broken
# receiver, and a retry that fell due meanwhile is due at once after it.
HOLDING_RETRIES: tuple[Status, ...] = (Status.ERROR,)


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") for char in text)


def checked_webhook_url(url: str) -> str:
    """An absolute http:// or https:// URL with a host, and nothing that hides
    credentials in it (the secret is the credential)."""
    if not url or url != url.strip():
        raise ValidationFailed("the webhook URL must not be empty or start or end with spaces")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(f"the webhook URL must be at most {MAX_URL_LENGTH} characters")
    if _has_control_characters(url) or " " in url:
        raise ValidationFailed("the webhook URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValidationFailed(f"the webhook URL is not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https"):
        found = f", not {parts.scheme}:" if parts.scheme else ""
        raise ValidationFailed(
            f"the webhook URL must start with http:// or https://{found} "
            "(for example https://hooks.example.com/journeys)"
        )
    if not parts.hostname:
        raise ValidationFailed("the webhook URL must name a host, as in https://host/path")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(
            "the webhook URL must not carry a user name or password; every message is "
            "signed with the secret instead"
        )
    if port == 0:
        raise ValidationFailed("the webhook URL's port must be from 1 to 65535")
    return url


def checked_webhook_secret(secret: str) -> str:
    if not secret:
        raise ValidationFailed("the webhook secret must not be empty")
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise ValidationFailed(
            f"the webhook secret must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters, "
            f"not {len(secret)} (a random one: openssl rand -hex 32)"
        )
    if secret != secret.strip() or _has_control_characters(secret):
        raise ValidationFailed(
            "the webhook secret must not start or end with spaces or contain control characters"
        )
    return secret


def shown_url(url: str) -> str:
    """The URL as an error message shows it: without its query or fragment, which
    may carry something the receiver treats as private."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def retry_delay(attempts_made: int, first_delay: timedelta) -> timedelta:
    """How long to wait after the `attempts_made`-th failed attempt: the first
    delay, doubled after each further attempt, at most MAX_RETRY_DELAY."""
    doublings = max(attempts_made - 1, 0)
    if doublings >= 32:
        return MAX_RETRY_DELAY
    delay: timedelta = first_delay * 2**doublings
    return min(delay, MAX_RETRY_DELAY)


@dataclass(frozen=True)
class Streak:
    """What a batch of attempts did to one journey's run of consecutive failures:
    the run is `kept` (no success in the batch) and grows by `failures_after`, the
    failures after the batch's last success (or all of them)."""

    kept: bool
    failures_after: int

    @classmethod
    def of(cls, outcomes: list[bool]) -> Streak:
        """`outcomes`: each attempt's success, in the order the attempts ended."""
        failures = 0
        kept = True
        for succeeded in outcomes:
            if succeeded:
                kept, failures = False, 0
            else:
                failures += 1
        return cls(kept, failures)

    def applied_to(self, run: int) -> int:
        return (run if self.kept else 0) + self.failures_after


def ends_failure_run(previous: Status, status: Status) -> bool:
    """Entering ERROR (the run led there, or an admin did) and leaving it (RECOVER,
    ABORT) start the count of consecutive failures afresh: after RECOVER the
    channel gets the whole limit again."""
    return Status.ERROR in (previous, status)


def attempt_error(message: str) -> str:
    """What a failed attempt keeps of an error (a delivery's last error): one line of
    plain text, at most MAX_ERROR_LENGTH characters. The words come from elsewhere (an
    exception, a server's answer) and may hold line breaks or controls."""
    return plain_text(" ".join(message.split()), MAX_ERROR_LENGTH)


def failing_reason(where: str, limit: int, last_error: str) -> str:
    """The reason the system gives when it takes FAIL for a failing channel: `where` is
    the channel and its destination, as `webhook https://hooks.example.com/in`."""
    return plain_text(f"{where} failed {limit} times in a row: {last_error}", MAX_ERROR_LENGTH)
