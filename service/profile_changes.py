"""Profile changes checked a chunk at a time, and their JSON text for the store.

The checks of domain.customers, run over many lines at once with few Python
steps: ids joined and searched once, each distinct attribute name checked
once, values by type and length in bulk. They only say whether every line is
good; when one is not, the reader checks each line alone to say which and why.

Encoding a change costs about as much as parsing its line, so an NDJSON line
written the usual way gives its change as it is: the text after its
`{"id": "<id>", "attributes": ` (or the same without spaces) up to its closing
brace. That text is the change exactly when the line is `{"id", "attributes"}`
in that order, each key once, and its attributes each once: then the line
holds no string but those of the change, its id and its two keys, which the
count of its quotes tells (with no backslash in the text, every quote opens or
closes a string). Any other line's change is encoded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from domain.customers import (
    MAX_ATTRIBUTES,
    MAX_CUSTOMER_ID_LENGTH,
    MAX_STRING_LENGTH,
    is_attribute_name,
)

Encode = Callable[[dict[str, Any]], str]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_VALUE_TYPES = frozenset({str, int, float, bool, type(None)})
_HEADS = ('{{"id": "{}", "attributes": ', '{{"id":"{}","attributes":')


def _storable(text: str) -> bool:
    if text.isascii():  # the usual case: one scan for NUL, not a regular expression's
        return "\x00" not in text
    return not _UNSTORABLE.search(text)


def ids_good(ids: list[str]) -> bool:
    """Every id is valid (domain.customers.is_valid_customer_id) and plain ASCII."""
    joined = "".join(ids)
    return (
        joined.isascii()
        and not _CONTROL.search(joined)
        and min(map(len, ids)) > 0
        and max(map(len, ids)) <= MAX_CUSTOMER_ID_LENGTH
        and ids == list(map(str.strip, ids))
    )


@dataclass(frozen=True)
class Checked:
    strings: int  # how many values are strings
    removals: bool  # a value is null

    def __bool__(self) -> bool:
        return True


class BulkCheck:
    def __init__(self) -> None:
        self.names: set[str] = set()  # attribute names already found good

    def check(self, changes: list[Any]) -> Checked | None:
        """What the changes hold, when every one would pass
        domain.customers.checked_attributes; otherwise None."""
        if set(map(type, changes)) != {dict}:
            return None
        if max(map(len, changes)) > MAX_ATTRIBUTES:
            return None
        names = set(chain.from_iterable(changes)) - self.names
        if names:
            if not all(map(is_attribute_name, names)):
                return None
            self.names |= names
        values = list(chain.from_iterable(map(dict.values, changes)))
        types = set(map(type, values))
        if not types <= _VALUE_TYPES:
            return None
        texts = values if types == {str} else [v for v in values if type(v) is str]
        if texts and (max(map(len, texts)) > MAX_STRING_LENGTH or not _storable("".join(texts))):
            return None
        if float in types and not all(math.isfinite(v) for v in values if type(v) is float):
            return None
        return Checked(len(texts), type(None) in types)


def encoder() -> Encode:
    """Compact JSON text of a change (its values already checked: finite, storable)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover (CPython has the C encoder)
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    encode = make(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda change: "".join(encode(change, 0))


def as_written(
    lines: list[str], customer_ids: list[str], changes: list[dict[str, Any]], strings: int
) -> list[str] | None:
    """The changes as their lines write them, or None when a line does not (then each
    is encoded). `lines` hold no backslash, tab or CR; `strings`: how many of the
    changes' values are strings."""
    for head in _HEADS:
        heads = [head.format(customer_id) for customer_id in customer_ids]
        if all(map(str.startswith, lines, heads)):
            break
    else:
        return None
    expected = 3 * len(lines) + sum(map(len, changes)) + strings
    if "".join(lines).count('"') != 2 * expected or not all(line[-1] == "}" for line in lines):
        return None
    return [line[len(head) : -1] for line, head in zip(lines, heads, strict=True)]
