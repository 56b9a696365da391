"""Reading an uploaded audience list as it streams in, a batch of ids at a time.

Two formats: `text/plain`, one customer id a line, and `text/csv`, whose
header names an `id` column (other columns are ignored). Lines are numbered
from 1 as in the file (a CSV header is line 1), and a line's number is where
its customer sits on the list, so a refusal names the line it came from.

- Spaces around an id are trimmed, and blank lines are skipped: they hold
  no customer.
- An id that is not valid (domain.customers.is_valid_customer_id) is refused
  as INVALID_ID; bytes that are not UTF-8 are invalid characters.
- A CSV line that cannot be read (an unterminated quote, too few columns) is
  refused as MALFORMED_LINE. A quoted field cannot span lines: a customer
  list has no use for one.
- Repeated ids are found by the store once the whole list is in (DUPLICATE).

The good lines load; the answer counts the refused ones and shows the first.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field

from domain.audience import ListRefusal
from domain.customers import MAX_CUSTOMER_ID_LENGTH, is_valid_customer_id
from domain.errors import ValidationFailed

BATCH = 20_000
SHOWN_REFUSALS = 20

FORMATS = ("text/plain", "text/csv")

# In ASCII text, the only characters an id may not hold are the controls, a tab
# among them; a chunk free of them (but for line endings) needs no
# character-by-character check.
_ASCII_CONTROL = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


def _plain_ascii(text: str) -> bool:
    """ASCII without a control character but LF, and CR only before LF."""
    if not text.isascii() or _ASCII_CONTROL.search(text):
        return False
    return "\r" not in text or text.count("\r") == text.count("\r\n")


@dataclass(frozen=True)
class RefusedLine:
    line: int
    customer_id: str
    reason: ListRefusal


@dataclass
class Batch:
    """Valid ids and the lines they came from, in file order."""

    positions: list[int] = field(default_factory=list)
    customer_ids: list[str] = field(default_factory=list)


def media_type(
    content_type: str | None,
    formats: tuple[str, ...] = FORMATS,
    wanted: str = "upload the list as text/plain (one customer id a line) or text/csv (with "
    "an 'id' column)",
    what: str = "the list",
) -> str:
    """The upload's format from its Content-Type header, one of `formats` (`wanted` says
    which, `what` names the upload), or ValidationFailed."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in formats:
        raise ValidationFailed(f"{wanted}, not {kind or 'a body without a Content-Type'}")
    charset = re.search(r"charset=\"?([\w-]+)", content_type or "", re.IGNORECASE)
    if charset and charset.group(1).lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii"):
        raise ValidationFailed(f"{what} must be UTF-8 text, not {charset.group(1)}")
    return kind


async def text_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[list[str], str | None]]:
    """The lines of a UTF-8 stream as it arrives (a leading BOM dropped; bytes that are
    not UTF-8 as lone surrogates): each chunk's complete lines (without their LF), with
    the text they were cut from (and the start of the next line); then the last line
    when the stream did not end with LF, with None for its text."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    pending = ""
    first = True
    async for chunk in chunks:
        text = pending + decoder.decode(chunk)
        if first and text:
            text = text.removeprefix("\ufeff")
            first = False
        *complete, pending = text.split("\n")
        yield complete, text
        # A body already received never suspends its reader: let the other tasks (the
        # write of the last batch, in flight) move between chunks.
        await asyncio.sleep(0)
    rest = pending + decoder.decode(b"", final=True)
    if rest:
        yield [rest], None


class ListReader:
    """Turns a stream of bytes into batches of valid ids, counting what it refuses."""

    def __init__(self, kind: str, batch: int = BATCH, shown: int = SHOWN_REFUSALS) -> None:
        self._csv = kind == "text/csv"
        self._batch_size = batch
        self._shown = shown
        self._id_column: int | None = None
        self.lines = 0
        self.refused = 0
        self.first_refused: list[RefusedLine] = []

    async def batches(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[Batch]:
        batch = Batch()
        async for lines, text in text_lines(chunks):
            fast = text is not None and _plain_ascii(text)
            self._read(lines, batch, fast, unquoted=fast and '"' not in (text or ""))
            if len(batch.positions) >= self._batch_size:
                yield batch
                batch = Batch()
        if self._csv and self._id_column is None:
            raise ValidationFailed("the CSV upload has no header line with an 'id' column")
        if batch.positions:
            yield batch

    def _read(self, lines: list[str], batch: Batch, fast: bool, unquoted: bool) -> None:
        """Take these lines (numbered on from the last), `fast` when their text is
        ASCII without control characters: then only an id's length can be wrong;
        `unquoted` when there is no quote in it either."""
        start = self.lines + 1
        self.lines += len(lines)
        if self._csv:
            self._read_csv(start, lines, batch, fast, unquoted)
            return
        if fast and self._take_all(start, [line.strip() for line in lines], batch):
            return
        for number, line in enumerate(lines, start):
            self._take(number, line.strip(), batch, fast)

    def _read_csv(
        self, start: int, lines: list[str], batch: Batch, fast: bool, unquoted: bool
    ) -> None:
        numbered: Sequence[tuple[int, str]] = list(enumerate(lines, start))
        if self._id_column is None:
            numbered = self._after_header(numbered)
        column = self._id_column or 0
        # Without a quote anywhere, a line's fields are what lies between its commas.
        if unquoted and numbered:
            try:
                ids = [line.split(",", column + 1)[column].strip() for _, line in numbered]
            except IndexError:  # a line with too few fields: see below
                pass
            else:
                if self._take_all(numbered[0][0], ids, batch):
                    return
        for number, line in numbered:
            if not line.strip():
                continue
            if unquoted:
                fields = line.split(",", column + 1)
            else:
                try:
                    fields = next(csv.reader([line], strict=True))
                except csv.Error:
                    self._refuse(number, line, ListRefusal.MALFORMED_LINE)
                    continue
            if len(fields) <= column:
                self._refuse(number, line, ListRefusal.MALFORMED_LINE)
                continue
            self._take(number, fields[column].strip(), batch, fast)

    def _after_header(self, numbered: Sequence[tuple[int, str]]) -> Sequence[tuple[int, str]]:
        """Read the header (the first line that is not blank); the lines after it."""
        for at, (number, line) in enumerate(numbered):
            if not line.strip():
                continue
            try:
                names = [name.strip().lower() for name in next(csv.reader([line], strict=True))]
            except csv.Error:
                names = []
            if "id" not in names:
                raise ValidationFailed(
                    f"line {number}: the CSV header must name an 'id' column (found: "
                    f"{', '.join(repr(n) for n in names[:10]) or 'no columns'})"
                )
            self._id_column = names.index("id")
            return numbered[at + 1 :]
        return []

    def _take_all(self, start: int, customer_ids: list[str], batch: Batch) -> bool:
        """Take the ids of consecutive lines from `start` at once, when every one of them
        is good (the usual case: a list of ASCII ids, no blank line); False, taking
        none, when a line needs a closer look, one by one."""
        if not all(customer_ids) or max(map(len, customer_ids), default=0) > MAX_CUSTOMER_ID_LENGTH:
            return False
        batch.positions += range(start, start + len(customer_ids))
        batch.customer_ids += customer_ids
        return True

    def _take(self, number: int, customer_id: str, batch: Batch, fast: bool) -> None:
        if not customer_id:
            return
        if fast:
            valid = len(customer_id) <= MAX_CUSTOMER_ID_LENGTH
        else:
            valid = is_valid_customer_id(customer_id)
        if valid:
            batch.positions.append(number)
            batch.customer_ids.append(customer_id)
        else:
            self._refuse(number, customer_id, ListRefusal.INVALID_ID)

    def _refuse(self, number: int, text: str, reason: ListRefusal) -> None:
        self.refused += 1
        if len(self.first_refused) < self._shown:
            # Shown back as text a person can read: undecodable bytes as U+FFFD.
            shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            self.first_refused.append(RefusedLine(number, shown[:MAX_CUSTOMER_ID_LENGTH], reason))
