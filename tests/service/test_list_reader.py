"""The list reader takes and refuses the lines its module's rules say, whichever way the
bytes arrive: ASCII chunks take a quicker path than other text, and must come out the
same as the rules read line by line (`by_the_rules`)."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.customers import is_valid_customer_id
from domain.errors import ValidationFailed
from service.list_upload import ListReader

# Lines from pieces that each take one of the reader's turns: separators, quotes,
# blanks, controls (a tab among them), a lone CR, non-ASCII, an id too long.
PIECES = ["ann", "bob", "c-1", " ", ",", '"', "\t", "\r", "\x00", "é", "\ufeff", "x" * 201]
LINES = st.lists(st.lists(st.sampled_from(PIECES), max_size=4).map("".join), max_size=30)


def by_the_rules(kind: str, text: str) -> tuple[list[tuple[int, str]], int]:
    """(taken, refused), line by line: a line's id is the line (text/plain) or its `id`
    field (text/csv), trimmed; blank ones are skipped, invalid ones refused."""
    lines = text.removeprefix("\ufeff").split("\n")
    taken: list[tuple[int, str]] = []
    refused = 0
    column: int | None = None if kind == "text/csv" else 0
    for number, line in enumerate(lines, 1):
        if kind == "text/csv":
            if not line.strip():
                continue
            try:
                fields = next(csv.reader([line], strict=True))
            except csv.Error:
                fields = None
            if column is None:
                names = [name.strip().lower() for name in fields or []]
                assert "id" in names  # the test's headers
                column = names.index("id")
                continue
            if fields is None or len(fields) <= column:
                refused += 1
                continue
            line = fields[column]
        customer_id = line.strip()
        if not customer_id:
            continue
        if is_valid_customer_id(customer_id):
            taken.append((number, customer_id))
        else:
            refused += 1
    return taken, refused


def read(kind: str, content: bytes, chunk: int) -> tuple[object, ...]:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), chunk):
            yield content[start : start + chunk]

    async def run() -> tuple[object, ...]:
        reader = ListReader(kind, batch=7)
        taken: list[tuple[int, str]] = []
        try:
            async for batch in reader.batches(chunks()):
                taken += zip(batch.positions, batch.customer_ids, strict=True)
        except ValidationFailed as refused:
            return ("refused", str(refused))
        return (taken, reader.lines, reader.refused, reader.first_refused)

    return asyncio.run(run())


@pytest.mark.parametrize("kind", ["text/plain", "text/csv"])
@given(lines=LINES, header=st.sampled_from(["id", "name,id", "id,name"]))
@settings(max_examples=300, deadline=None)
def test_a_list_is_read_by_its_rules_in_any_chunks(
    kind: str, lines: list[str], header: str
) -> None:
    text = "\n".join(([header] if kind == "text/csv" else []) + lines)
    content = text.encode()
    whole = read(kind, content, len(content) or 1)
    assert whole == read(kind, content, 1) == read(kind, content, 5)
    taken, _lines, refused, _shown = whole
    assert (taken, refused) == by_the_rules(kind, text)
