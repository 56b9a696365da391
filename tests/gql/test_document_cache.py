"""The caches of parsed, validated and shaped documents (gql/document_cache.py):
what a stream of distinct documents leaves in them, inspected, not timed."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Iterator

import pytest
from graphql import parse

from gql import schema as schema_module
from gql.document_cache import (
    MAX_CACHED_CHARS,
    PARSED,
    SizedCache,
    cached_parse,
    document_weight,
)
from gql.limits import MAX_DOCUMENT_CHARS, MAX_DOCUMENT_TOKENS
from gql.live import shape as shape_module
from gql.schema import schema

pytestmark = pytest.mark.anyio

CACHES = {
    "parsed": PARSED,
    "validated": schema_module._VALIDATED,
    "shapes": shape_module._SHAPES,
}


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    for cache in CACHES.values():
        cache.clear()
    yield
    for cache in CACHES.values():
        cache.clear()


def large(index: int) -> str:
    """A document the server takes (under its length and token limits), mostly a
    comment, different for each index."""
    text = f"# {index} " + "x" * (MAX_DOCUMENT_CHARS - 100) + "\n{ __typename }"
    assert MAX_CACHED_CHARS < len(text) <= MAX_DOCUMENT_CHARS
    return text


def dense(index: int) -> str:
    """A short document, but with many tokens: it weighs far more than its length
    (about 280 KB), different for each index."""
    text = f"# {index}\n{{ " + "__typename " * 500 + "}"
    assert len(text) <= MAX_CACHED_CHARS
    return text


async def run(query: str) -> None:
    result = await schema.execute(query)
    assert result.errors is None and result.data is not None, result.errors


async def test_distinct_large_documents_are_not_kept():
    for index in range(40):
        await run(large(index))
    assert [len(cache) for cache in CACHES.values()] == [0, 0, 0]
    assert [cache.retained for cache in CACHES.values()] == [0, 0, 0]


async def test_distinct_large_documents_leave_no_memory_behind():
    # Whatever a cache may be (ours or a library's): what 40 distinct 100 KB
    # documents leave allocated once answered. Keyed on their text, they held
    # 40 times the text and its parsed comment, about 8 MB.
    await run(large(-1))  # anything allocated once, on first use, is allocated now
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for index in range(40):
            await run(large(index))
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    left = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert left < 40 * MAX_DOCUMENT_CHARS // 10, f"{left} bytes left behind"


async def test_short_documents_are_kept_within_the_budget():
    for index in range(60):
        await run(dense(index))
    for name, cache in CACHES.items():
        if name == "shapes":
            continue  # a query has no subscription shape to keep
        assert 0 < cache.retained <= cache.budget, (name, cache.retained)
        assert len(cache) < 60, name  # the budget pushed the oldest out
    # One repeated is parsed once: the same document every time.
    query = "query Page { journeys(first: 20) { totalCount } }"
    assert cached_parse(query, max_tokens=MAX_DOCUMENT_TOKENS) is cached_parse(
        query, max_tokens=MAX_DOCUMENT_TOKENS
    )


def test_a_subscription_shape_is_kept_for_short_documents_only():
    short = "subscription { statusCountsChanged { status count } }"
    assert shape_module.subscription_shape(short, None) is not None
    assert shape_module.subscription_shape(large(0).replace("{ __typename }", short), None)
    assert len(shape_module._SHAPES) == 1
    assert shape_module._SHAPES.retained == sys.getsizeof(short) + sys.getsizeof("")


def test_the_least_recently_used_go_first_and_heavy_entries_are_not_kept():
    cache: SizedCache[str, int] = SizedCache(budget=1600)
    assert cache.max_entry == 100
    cache.put("heavy", 0, 101)
    assert len(cache) == 0
    for index in range(16):
        cache.put(f"k{index}", index, 100)
    assert cache.get("k0") == 0  # used: now the most recent
    cache.put("k16", 16, 100)
    assert cache.retained == 1600 and len(cache) == 16
    assert cache.get("k1") is None and cache.get("k0") == 0
    cache.put("k0", 0, 50)  # kept again: weighed anew
    assert cache.retained == 1550


@pytest.mark.parametrize(
    "query",
    [
        "query Page($first: Int) { journeys(first: $first) { totalCount edges { node { id } } } }",
        "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(25)) + " }",
        "{ " + "x " * (MAX_DOCUMENT_TOKENS - 10) + "}",
        "# " + "c" * 90_000 + "\n{ viewer { role } }",
        '{ journeys(filter: {nameContains: "' + "s" * 90_000 + '"}) { totalCount } }',
    ],
    ids=["a dashboard's", "aliases", "token-dense", "a long comment", "a long string"],
)
def test_a_documents_weight_is_near_what_it_holds(query: str):
    """The budgets are in bytes only as far as the weights are: each estimate is
    checked against what tracemalloc sees a parse allocate and keep."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        document = parse(query, max_tokens=MAX_DOCUMENT_TOKENS)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sys.getsizeof(query) + sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert 0.5 * held <= document_weight(query, document) <= 2 * held, held
