"""Text people type and others read: refused when it holds characters nobody can read."""

from __future__ import annotations

import pytest

from domain.actions import Action
from domain.channels import MAX_ERROR_LENGTH, attempt_error, failing_reason
from domain.content import (
    MAX_REASON_LENGTH,
    checked_labels,
    checked_name,
    checked_reason,
    normalized,
    revise,
)
from domain.customers import is_valid_customer_id
from domain.errors import ValidationFailed
from domain.statuses import Status
from domain.text import has_unreadable_characters, plain_text
from tests.domain.factories import EDITOR, NOW, journey_in, ready_content

UNREADABLE = [
    "nul\x00here",
    "\x1b[31mred\x1b[0m",  # a terminal escape sequence
    "abc\u202edcba",  # right-to-left override
    "zero\u200bwidth",
    "two\nlines",
    "half \ud800 a pair",
    "\ufeffbom",
]
READABLE = ["Welcome series", "Été 2027 : offres", "誕生日のクーポン", "emoji 🎂 ok"]


@pytest.mark.parametrize("text", UNREADABLE)
def test_unreadable_characters_are_found(text):
    assert has_unreadable_characters(text)


@pytest.mark.parametrize("text", READABLE)
def test_readable_text_passes(text):
    assert not has_unreadable_characters(text)


@pytest.mark.parametrize("text", UNREADABLE)
def test_names_labels_templates_triggers_and_ids_refuse_them(text):
    with pytest.raises(ValidationFailed, match="control or invisible character"):
        checked_name(text)
    with pytest.raises(ValidationFailed, match="control or invisible character"):
        checked_labels([text[:50]])
    with pytest.raises(ValidationFailed, match="triggerEvent holds a control"):
        normalized(revise(ready_content(), {"trigger_event": text}))
    assert not is_valid_customer_id(text)


def test_a_reason_is_trimmed_bounded_and_readable():
    assert checked_reason("  the CRM is down  ") == "the CRM is down"
    assert checked_reason("   ") is None and checked_reason(None) is None
    assert checked_reason("r" * MAX_REASON_LENGTH) == "r" * MAX_REASON_LENGTH
    with pytest.raises(ValidationFailed, match=f"longer than {MAX_REASON_LENGTH}"):
        checked_reason("r" * (MAX_REASON_LENGTH + 1))
    with pytest.raises(ValidationFailed, match="control or invisible"):
        checked_reason("line\nbreak")


def test_a_transition_with_a_bad_reason_changes_nothing():
    journey = journey_in(Status.ACTIVE)
    revision, events = journey.revision, len(journey.events)
    with pytest.raises(ValidationFailed, match="reason is longer"):
        journey.take(Action.PAUSE, EDITOR, NOW, reason="x" * 1_000_000)
    assert (journey.status, journey.revision, len(journey.events)) == (
        Status.ACTIVE,
        revision,
        events,
    )


def test_the_system_writes_a_readable_failing_reason_from_whatever_an_endpoint_said():
    reason = failing_reason(
        "webhook https://hooks.example.com/x", 5, "HTTP 500:\n\x1b[1m" + "e" * 900
    )
    assert not has_unreadable_characters(reason) and len(reason) <= 500
    assert checked_reason(reason) == reason.strip()
    assert plain_text("a\x00b", 10) == "a b"


def test_a_failed_attempt_keeps_one_readable_line_of_its_error():
    # Both channels (webhook, email) keep their errors through attempt_error.
    assert attempt_error("SMTP 550 no\r\n  such\tuser") == "SMTP 550 no such user"
    assert attempt_error("a\x00b") == "a b"
    assert len(attempt_error("e" * 900)) == MAX_ERROR_LENGTH
