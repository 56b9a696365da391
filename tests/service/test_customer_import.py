"""The customer import (SQLite and PostgreSQL): NDJSON and CSV streamed in, merged
into the profiles all or nothing, repeated ids merged in line order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.errors import Forbidden, ValidationFailed
from service.customer_import import Imported
from service.services import Services
from store.tables import CUSTOMER_IMPORTS, CUSTOMERS
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

NDJSON = "application/x-ndjson"


async def body(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):  # small chunks: lines cut anywhere
        yield data[i : i + size]


def ndjson(*lines: Any) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


async def run(
    services: Services, callers: Callers, text: str, content_type: str = NDJSON, **kw: Any
) -> Imported:
    return await services.customer_import.run(
        kw.get("caller", callers.editor), content_type, body(text.encode(), kw.get("size", 7))
    )


async def profiles(services: Services) -> dict[str, dict[str, Any]]:
    rows = await services.database.read(
        lambda c: c.execute(
            select(CUSTOMERS.c.id, CUSTOMERS.c.attributes).where(CUSTOMERS.c.workspace_id == "acme")
        ).all()
    )
    return {row.id: dict(row.attributes) for row in rows}


async def staged(services: Services) -> int:
    return int(
        await services.database.read(
            lambda c: c.execute(select(func.count()).select_from(CUSTOMER_IMPORTS)).scalar_one()
        )
    )


async def test_ndjson_creates_then_merges(services: Services, callers: Callers) -> None:
    first = await run(
        services,
        callers,
        ndjson(
            {"id": "ann", "attributes": {"email": "ann@example.com", "age": 41, "vip": True}},
            "",
            {"id": "bob", "attributes": {"plan": "pro", "score": 1.5}},
            {"id": "cy"},
        ),
    )
    assert (first.lines, first.created, first.updated, first.refused) == (4, 3, 0, 0)
    assert first.written and first.first_refused == []
    assert await profiles(services) == {
        "ann": {"email": "ann@example.com", "age": 41, "vip": True},
        "bob": {"plan": "pro", "score": 1.5},
        "cy": {},
    }
    # Given keys set, null keys removed, the others kept; a new id's nulls dropped.
    second = await run(
        services,
        callers,
        ndjson(
            {"id": "ann", "attributes": {"age": 42, "vip": None}},
            {"id": "dee", "attributes": {"plan": "free", "gone": None}},
        ),
        caller=callers.admin,
    )
    assert (second.lines, second.created, second.updated, second.refused) == (2, 1, 1, 0)
    found = await profiles(services)
    assert found["ann"] == {"email": "ann@example.com", "age": 42}
    assert found["dee"] == {"plan": "free"}
    assert found["bob"] == {"plan": "pro", "score": 1.5}
    assert await staged(services) == 0


async def test_repeated_ids_merge_in_line_order(services: Services, callers: Callers) -> None:
    await run(services, callers, ndjson({"id": "old", "attributes": {"a": "0", "keep": "k"}}))
    imported = await run(
        services,
        callers,
        ndjson(
            {"id": "new", "attributes": {"a": "1", "b": "1"}},
            {"id": "old", "attributes": {"a": "1", "b": "1"}},
            {"id": "once", "attributes": {"x": 1}},
            {"id": "new", "attributes": {"a": None, "c": "2"}},
            {"id": "old", "attributes": {"a": None, "c": "2"}},
            {"id": "new", "attributes": {"b": "3"}},
            {"id": "old", "attributes": {"b": "3", "a": "4"}},
        ),
    )
    assert (imported.created, imported.updated, imported.refused) == (2, 1, 0)
    found = await profiles(services)
    assert found["new"] == {"b": "3", "c": "2"}
    assert found["old"] == {"a": "4", "b": "3", "c": "2", "keep": "k"}
    assert found["once"] == {"x": 1}
    assert await staged(services) == 0


async def test_csv(services: Services, callers: Callers) -> None:
    await run(services, callers, ndjson({"id": "ann", "attributes": {"plan": "pro", "n": 1}}))
    text = (
        "email,ID,plan,city\r\n"
        "ann@example.com,ann,,Paris\r\n"
        '"bob@example.com",bob,"free, for now",\r\n'
        "\r\n"
        ",cy,,\r\n"
    )
    imported = await run(services, callers, text, "text/csv; charset=utf-8")
    assert (imported.lines, imported.created, imported.updated, imported.refused) == (5, 2, 1, 0)
    found = await profiles(services)
    # An empty cell sets nothing: ann keeps her plan.
    assert found["ann"] == {"plan": "pro", "n": 1, "email": "ann@example.com", "city": "Paris"}
    assert found["bob"] == {"email": "bob@example.com", "plan": "free, for now"}
    assert found["cy"] == {}


async def test_a_csv_import_needs_an_id_column(services: Services, callers: Callers) -> None:
    with pytest.raises(ValidationFailed, match="a CSV import needs an id column"):
        await run(services, callers, "email,plan\na@example.com,pro\n", "text/csv")
    with pytest.raises(ValidationFailed, match="a CSV import needs an id column"):
        await run(services, callers, "", "text/csv")
    with pytest.raises(ValidationFailed, match="'first name' is not an attribute name"):
        await run(services, callers, "id,first name\nann,Ann\n", "text/csv")
    assert await profiles(services) == {}


async def test_one_bad_line_and_nothing_is_imported(services: Services, callers: Callers) -> None:
    before = {"id": "ann", "attributes": {"plan": "pro"}}
    await run(services, callers, ndjson(before))
    good = [{"id": f"c{i}", "attributes": {"n": i}} for i in range(50)]
    text = ndjson(
        *good[:10],
        '{"id": "broken", ',  # line 11
        *good[10:20],
        {"id": "spaced", "attributes": {"first name": "X"}},  # line 22
        {"id": "long", "attributes": {"bio": "x" * 1_001}},  # line 23
        {"id": "nested", "attributes": {"address": {"city": "Paris"}}},  # line 24
        {"id": " padded", "attributes": {}},  # line 25
        [1, 2],  # line 26
        {"id": "ann", "attributes": {"plan": None}},
        *good[20:],
    )
    imported = await run(services, callers, text, size=64)
    assert not imported.written
    assert (imported.lines, imported.created, imported.updated, imported.refused) == (57, 0, 0, 6)
    shown = [(r.line, r.customer_id, r.reason.value) for r in imported.first_refused]
    assert shown == [
        (11, None, "MALFORMED_LINE"),
        (22, "spaced", "INVALID_ATTRIBUTES"),
        (23, "long", "INVALID_ATTRIBUTES"),
        (24, "nested", "INVALID_ATTRIBUTES"),
        (25, " padded", "INVALID_ID"),
        (26, None, "MALFORMED_LINE"),
    ]
    messages = [r.message for r in imported.first_refused]
    assert messages[0].startswith("not JSON")
    assert "'first name' is not a name" in messages[1]
    assert "at most 1000 characters, not 1001" in messages[2]
    assert "not an object or a list" in messages[3]
    assert await profiles(services) == {"ann": {"plan": "pro"}}
    assert await staged(services) == 0


async def test_refusals_past_the_first_batch(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.import_reader.BATCH", 10)
    lines = [{"id": f"c{i}", "attributes": {"n": i}} for i in range(100)]
    lines[70] = {"id": "c70", "attributes": {"n": float("nan")}}
    imported = await run(services, callers, ndjson(*lines), size=50)
    assert [(r.line, r.customer_id) for r in imported.first_refused] == [(71, "c70")]
    assert "finite" in imported.first_refused[0].message
    assert await profiles(services) == {}
    assert await staged(services) == 0
    # Staged ten lines at a time, then merged.
    imported = await run(services, callers, ndjson(*lines[:70], *lines[71:]), size=50)
    assert (imported.lines, imported.created, imported.refused) == (99, 99, 0)
    assert len(await profiles(services)) == 99
    assert await staged(services) == 0


async def test_too_many_attributes_after_the_merge(services: Services, callers: Callers) -> None:
    await run(
        services, callers, ndjson({"id": "full", "attributes": {f"a{i}": i for i in range(90)}})
    )
    text = ndjson(
        {"id": "fine", "attributes": {"b": 1}},
        {"id": "full", "attributes": {f"b{i}": i for i in range(5)}},
        {"id": "new", "attributes": {f"a{i}": i for i in range(60)}},
        {"id": "full", "attributes": {f"c{i}": i for i in range(6)}},  # 101 after the merge
        {"id": "new", "attributes": {f"b{i}": i for i in range(41)}},  # 101 once merged
    )
    imported = await run(services, callers, text, size=500)
    assert not imported.written
    assert [(r.line, r.customer_id, r.reason.value) for r in imported.first_refused] == [
        (4, "full", "INVALID_ATTRIBUTES"),
        (5, "new", "INVALID_ATTRIBUTES"),
    ]
    assert "at most 100 attributes" in imported.first_refused[0].message
    found = await profiles(services)
    assert set(found) == {"full"} and len(found["full"]) == 90
    # Each id once (merged as it is), one of them too large.
    text = ndjson(
        {"id": "fine", "attributes": {"b": 1}},
        {"id": "full", "attributes": {f"b{i}": i for i in range(11)}},
    )
    imported = await run(services, callers, text, size=500)
    assert [(r.line, r.customer_id) for r in imported.first_refused] == [(2, "full")]
    assert imported.refused == 1 and (imported.created, imported.updated) == (0, 0)
    assert set(await profiles(services)) == {"full"}
    # Removing as many as it adds fits.
    text = ndjson(
        {"id": "full", "attributes": {f"c{i}": i for i in range(20)}},
        {"id": "full", "attributes": {f"a{i}": None for i in range(10)}},
    )
    imported = await run(services, callers, text, size=500)
    assert (imported.created, imported.updated) == (0, 1)
    assert len((await profiles(services))["full"]) == 100


async def test_a_viewer_is_refused(services: Services, callers: Callers) -> None:
    with pytest.raises(Forbidden):
        await run(services, callers, ndjson({"id": "ann"}), caller=callers.viewer)
    with pytest.raises(ValidationFailed, match="application/x-ndjson"):
        await run(services, callers, ndjson({"id": "ann"}), "text/plain")
    assert await profiles(services) == {}


async def test_a_cut_off_import_leaves_nothing(services: Services, callers: Callers) -> None:
    async def cut_off() -> AsyncIterator[bytes]:
        for i in range(30_000):
            yield (json.dumps({"id": f"c{i}", "attributes": {"n": i}}) + "\n").encode()
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await services.customer_import.run(callers.editor, NDJSON, cut_off())
    assert await profiles(services) == {}
    assert await staged(services) == 0


async def test_abandoned_imports_are_swept(services: Services, callers: Callers) -> None:
    from store import customer_import as store

    import_id = store.new_import_id(T0)
    await services.database.transaction(
        lambda c: store.stage(c, import_id, [1], ["ann"], ['{"a":1}'])
    )
    assert await services.customer_import.discard_abandoned() == 0
    services.clock.advance(hours=7)  # type: ignore[attr-defined]
    assert await services.customer_import.discard_abandoned() == 1
    assert await staged(services) == 0


async def test_lines_written_any_way(services: Services, callers: Callers) -> None:
    # Without a backslash, a change is staged as its line writes it, when it is exactly it.
    text = ndjson(
        '{"id":"compact","attributes":{"a":"}{","b":2}}',
        '{"id": "twice", "attributes": {"a": "1"}, "attributes": {"b": "2"}}',
        '{"id": "inner", "attributes": {"a": "1", "a": "3", "attributes": "attributes"}}',
        '{"attributes": {"a": "x"}, "id": "reversed"}',
    )
    for line in text.splitlines(keepends=True):
        assert (await run(services, callers, line, size=4096)).created == 1
    for mixed in (text, text.replace('"x"', '"\\u0078"')):
        imported = await run(services, callers, mixed, size=4096)
        assert imported.updated == 4, imported.first_refused
    text = ndjson('  {"id": "spaced", "attributes": {"a": "\\u00e9\\t"}}  ')
    assert (await run(services, callers, text)).created == 1
    assert await profiles(services) == {
        "compact": {"a": "}{", "b": 2},
        "twice": {"b": "2"},
        "inner": {"a": "3", "attributes": "attributes"},
        "reversed": {"a": "x"},
        "spaced": {"a": "é\t"},
    }
