"""Text that people type and others read: names, labels, templates, trigger events,
reasons and customer ids.

None of it may hold a control, format or surrogate character: no NUL, no
terminal escape sequences, no invisible direction marks (U+202E turns the
rest of a line around on a dashboard), and no half of a UTF-16 pair, which
the database cannot store. A line break is a control character too: each of
these is one line.
"""

from __future__ import annotations

import re
import unicodedata

# A short text of one line: a template's name, a trigger event's.
MAX_TEXT_LENGTH = 200

_UNREADABLE = ("Cc", "Cf", "Cs")
# The ASCII printable range, which holds none of them: checked first, at C speed.
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


def has_unreadable_characters(text: str) -> bool:
    """Whether `text` holds a control, format or surrogate character."""
    if _PRINTABLE_ASCII.fullmatch(text):
        return False
    return any(unicodedata.category(char) in _UNREADABLE for char in text)


def text_problem(field: str, value: str, max_length: int) -> str | None:
    """Why `value` cannot be the text of `field`, or None: blank, too long, or unreadable."""
    if not value.strip():
        return f"{field} must not be blank"
    if len(value) > max_length:
        return f"{field} is longer than {max_length} characters"
    if has_unreadable_characters(value):
        return (
            f"{field} holds a control or invisible character (such as NUL, an escape "
            "sequence, a line break or a direction mark); use plain text"
        )
    return None


def plain_text(text: str, max_length: int) -> str:
    """`text` made readable, for text the system writes from what others sent (an
    endpoint's error): each unreadable character a space, cut to `max_length`."""
    if not _PRINTABLE_ASCII.fullmatch(text):
        text = "".join(" " if unicodedata.category(char) in _UNREADABLE else char for char in text)
    return text[:max_length]


def one_line(text: str) -> str:
    """One line of text, as a subject or a header's value: line breaks and other control
    characters become spaces, so a value can never start a line (a header) of its own."""
    cleaned = "".join(
        " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in text
    )
    return " ".join(cleaned.split())
