"""Reading a customer import as it streams in: lines -> batches of profile changes,
and the lines refused, by number (docs/rules.md, "Customers and their data").

Two formats. `application/x-ndjson`: one `{"id": "...", "attributes": {...}}` a
line (a null attribute removes it; no `attributes`: nothing to change, the
profile is still created). `text/csv`: a header naming an `id` column, every
other column an attribute (its name checked once: a bad one refuses the whole
import); a cell's text is the value, an empty cell sets nothing. Lines are
numbered from 1 as in the file; blank lines are skipped.

A line is refused as MALFORMED_LINE (not JSON, not an object, no string `id`,
keys other than `id` and `attributes`; a CSV line that cannot be read or with
another number of fields than the header), INVALID_ID
(domain.customers.is_valid_customer_id) or INVALID_ATTRIBUTES
(domain.customers.checked_attributes's sentence). The import is all or
nothing: once a line is refused, the reader goes on only to count and
number the refusals, and yields no more batches.

Speed: a line costs one `json.loads` (for CSV, a split) and the encoding of its
change as JSON text for the store; the checks run over a chunk's lines at once
(ids joined and searched once, each distinct attribute name checked once,
values by type and length in bulk), and line by line only for a chunk where
something is wrong, to say which line and why.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from domain.customers import (
    MAX_CUSTOMER_ID_LENGTH,
    checked_attributes,
    is_attribute_name,
    is_valid_customer_id,
)
from domain.errors import ValidationFailed
from service.customers import INVALID_ID_MESSAGE
from service.list_upload import SHOWN_REFUSALS, media_type, text_lines
from service.profile_changes import BulkCheck, as_written, encoder, ids_good

NDJSON = "application/x-ndjson"
CSV = "text/csv"
BATCH = 20_000

# The decoder's own scanner: json.loads but for its check of what follows the value.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class ImportRefusal(StrEnum):
    MALFORMED_LINE = "MALFORMED_LINE"
    INVALID_ID = "INVALID_ID"
    INVALID_ATTRIBUTES = "INVALID_ATTRIBUTES"


def _escaped(text: str) -> bool:
    """Whether JSON text may differ from what the store stages: escapes, and what COPY
    reads (tabs, CR)."""
    return "\\" in text or "\t" in text or "\r" in text


@dataclass(frozen=True)
class RefusedProfile:
    line: int
    customer_id: str | None
    reason: ImportRefusal
    message: str


# A chunk's lines read: numbers, ids and changes of those parsed; NDJSON: their text.
_Read = tuple[list[int], list[str], list[dict[str, Any]], list[str] | None]


@dataclass
class ProfileBatch:
    """Good lines, in file order: their numbers, ids and changes as JSON text."""

    lines: list[int] = field(default_factory=list)
    customer_ids: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def import_format(content_type: str | None) -> str:
    return media_type(
        content_type,
        (NDJSON, CSV),
        f"import profiles as {NDJSON} (one JSON object a line) or {CSV} (with an 'id' column)",
        "the import",
    )


class ProfileReader:
    def __init__(self, kind: str, batch: int | None = None, shown: int = SHOWN_REFUSALS) -> None:
        self._csv = kind == CSV
        self._batch_size = batch or BATCH
        self._shown = shown
        self._encode = encoder()
        self._bulk = BulkCheck()
        self._header: list[str] | None = None  # CSV: the column names, "" for id
        self._id_column = 0
        self.lines = 0
        self.accepted = 0
        self.refused = 0
        self.first_refused: list[RefusedProfile] = []
        self._refusals: list[RefusedProfile] = []  # the chunk's, as found
        self.removals = False  # a change holds a null: the merge must remove keys

    async def batches(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[ProfileBatch]:
        batch = ProfileBatch()
        async for lines, text in text_lines(chunks):
            start = self.lines + 1
            self.lines += len(lines)
            numbers, ids, changes, raws = (
                self._read_csv(start, lines) if self._csv else self._read_ndjson(start, lines)
            )
            if raws is not None and (text is None or _escaped(text)):
                raws = None  # their changes are encoded
            if numbers:
                self._check(numbers, ids, changes, raws, batch)
            if self._refusals:
                self._tell_refusals()
            if len(batch.lines) >= self._batch_size:
                yield batch
                batch = ProfileBatch()
        if self._csv and self._header is None:
            raise ValidationFailed("a CSV import needs an id column (its header names none)")
        if batch.lines and not self.refused:
            yield batch

    # -- parsing ----------------------------------------------------------------

    def _read_ndjson(self, start: int, lines: list[str]) -> _Read:
        numbers: list[int] = []
        ids: list[str] = []
        changes: list[dict[str, Any]] = []
        raws: list[str] = []
        scan = _scan
        for number, line in enumerate(lines, start):
            try:
                found, end = scan(line, 0)
            except (StopIteration, ValueError):
                end = -1
            if end != len(line):  # space around it, a blank line, or not JSON
                if not line or line.isspace():
                    continue
                try:
                    found = json.loads(line)
                except ValueError as error:
                    self._refuse(number, None, ImportRefusal.MALFORMED_LINE, f"not JSON: {error}")
                    continue
            if type(found) is not dict or type(customer_id := found.get("id")) is not str:
                self._refuse(
                    number,
                    None,
                    ImportRefusal.MALFORMED_LINE,
                    'a line is a JSON object with a string "id" and an "attributes" object',
                )
                continue
            change = found.get("attributes", {})
            if len(found) > 2 or (len(found) == 2 and "attributes" not in found):
                others = sorted(set(found) - {"id", "attributes"})
                self._refuse(
                    number,
                    customer_id,
                    ImportRefusal.MALFORMED_LINE,
                    f'a line holds "id" and "attributes" only, not {", ".join(others)}',
                )
                continue
            numbers.append(number)
            ids.append(customer_id)
            changes.append(change)
            raws.append(line)
        return numbers, ids, changes, raws

    def _read_csv(self, start: int, lines: list[str]) -> _Read:
        numbers: list[int] = []
        ids: list[str] = []
        changes: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start):
            line = line.removesuffix("\r")
            if not line or line.isspace():
                continue
            if '"' in line:
                try:
                    fields = next(csv.reader([line], strict=True))
                except csv.Error as error:
                    self._refuse(number, None, ImportRefusal.MALFORMED_LINE, f"not CSV: {error}")
                    continue
            else:
                fields = line.split(",")
            if self._header is None:
                self._read_header(number, fields)
                continue
            if len(fields) != len(self._header):
                self._refuse(
                    number,
                    None,
                    ImportRefusal.MALFORMED_LINE,
                    f"the line has {len(fields)} fields; the header names {len(self._header)}",
                )
                continue
            numbers.append(number)
            ids.append(fields[self._id_column].strip())
            changes.append({n: v for n, v in zip(self._header, fields, strict=True) if v and n})
        return numbers, ids, changes, None

    def _read_header(self, number: int, fields: list[str]) -> None:
        names = [name.strip() for name in fields]
        if "id" not in [name.lower() for name in names]:
            raise ValidationFailed(
                f"a CSV import needs an id column (line {number}, the header, names "
                f"{', '.join(repr(n) for n in names[:10]) or 'no columns'})"
            )
        self._id_column = [name.lower() for name in names].index("id")
        attributes = names[: self._id_column] + names[self._id_column + 1 :]
        for name in attributes:
            if not is_attribute_name(name):
                raise ValidationFailed(
                    f"line {number}: the CSV header's column {name[:80]!r} is not an attribute "
                    "name (a letter or _, then letters, digits or _, at most 64 characters)"
                )
        if len(set(attributes)) < len(attributes):
            raise ValidationFailed(f"line {number}: the CSV header names a column twice")
        self._header = [*names[: self._id_column], "", *names[self._id_column + 1 :]]
        self._bulk.names.update(attributes)

    # -- checking -----------------------------------------------------------------

    def _check(
        self,
        numbers: list[int],
        ids: list[str],
        changes: list[dict[str, Any]],
        raws: list[str] | None,
        batch: ProfileBatch,
    ) -> None:
        checked = ids_good(ids) and self._bulk.check(changes)
        if not checked:
            numbers, ids, changes = self._sorted_out(numbers, ids, changes)
        elif checked.removals:
            self.removals = True
        if self.refused:
            return  # nothing will be written: no need to encode
        texts = None
        if checked and raws is not None:
            texts = as_written(raws, ids, changes, checked.strings)
        if texts is None:
            encode = self._encode
            texts = [encode(change) for change in changes]
        batch.lines += numbers
        batch.customer_ids += ids
        batch.changes += texts
        self.accepted += len(numbers)

    def _sorted_out(
        self, numbers: list[int], ids: list[str], changes: list[dict[str, Any]]
    ) -> tuple[list[int], list[str], list[dict[str, Any]]]:
        """The good lines of a chunk where a line is not, each one checked alone."""
        kept: tuple[list[int], list[str], list[dict[str, Any]]] = ([], [], [])
        for number, customer_id, change in zip(numbers, ids, changes, strict=True):
            if not is_valid_customer_id(customer_id):
                self._refuse(number, customer_id, ImportRefusal.INVALID_ID, INVALID_ID_MESSAGE)
                continue
            try:
                checked_attributes(change)
            except ValidationFailed as problem:
                self._refuse(number, customer_id, ImportRefusal.INVALID_ATTRIBUTES, problem.message)
                continue
            if None in change.values():
                self.removals = True
            kept[0].append(number)
            kept[1].append(customer_id)
            kept[2].append(change)
        return kept

    def _refuse(
        self, number: int, customer_id: str | None, reason: ImportRefusal, message: str
    ) -> None:
        """Count a refused line; a chunk's are told in line order once it is read."""
        self.refused += 1
        self._refusals.append(RefusedProfile(number, customer_id, reason, message))

    def _tell_refusals(self) -> None:
        room = self._shown - len(self.first_refused)
        for refusal in sorted(self._refusals, key=lambda r: r.line)[: max(room, 0)]:
            customer_id = refusal.customer_id
            if customer_id is not None:
                # Shown back as text a person can read: undecodable bytes and lone
                # surrogates (escaped in JSON) as U+FFFD.
                customer_id = customer_id.encode("utf-8", "surrogatepass").decode(
                    "utf-8", "replace"
                )[:MAX_CUSTOMER_ID_LENGTH]
            self.first_refused.append(
                RefusedProfile(refusal.line, customer_id, refusal.reason, refusal.message)
            )
        self._refusals = []
