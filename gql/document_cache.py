"""Caches of what is worked out from a GraphQL document's text, bounded by the
memory their entries hold rather than by their number.

Clients repeat a few documents (the dashboard's, an integration's, GraphiQL's
introspection), so each is parsed, validated and shaped once. But an entry
holds on to its document: the text, and a parsed document's tokens, which its
locations keep alive (about 550 bytes a token, and a copy of each comment and
string). Bounded by entries alone (256, as Strawberry's caches are), a stream
of distinct large documents kept the last 256 of them, hundreds of megabytes.
Here a document longer than MAX_CACHED_CHARS is worked out each time and
never kept, and each cache has a budget in bytes over its entries' estimated
weights, so that token-dense short documents cannot hold more either.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from graphql import DocumentNode, parse

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# The documents clients repeat are short: the dashboard's have 40 to 300
# characters, the introspection query of GraphiQL a few thousand. Longer ones
# (up to the 100,000 a document may have) are too rare a repeat to keep.
MAX_CACHED_CHARS = 10_000
# What a parsed document holds per token besides the token's value: the Token
# and its share of the nodes and locations (tracemalloc found 400 to 560 bytes;
# tests/gql/test_document_cache.py keeps the estimate near what is measured).
TOKEN_BYTES = 550
# Each cache's budget: a hundred or more documents of the dashboard's weight
# (5 to 35 KB parsed), or a few dozen introspection queries (about 90 KB).
PARSED_BYTES = 8 * 1024 * 1024
VALIDATED_BYTES = 8 * 1024 * 1024
SHAPES_BYTES = 1024 * 1024


class SizedCache(Generic[K, V]):
    """A least-recently-used cache whose entries' weights (bytes, estimated by the
    caller) add up to at most `budget`; an entry over `budget // 16` is not kept,
    so one heavy document cannot push out the many light ones clients repeat."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.max_entry = budget // 16
        self.retained = 0  # the kept entries' weights, in bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, weight: int) -> None:
        if weight > self.max_entry:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.retained -= previous[1]
        self._entries[key] = (value, weight)
        self.retained += weight
        while self.retained > self.budget:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.retained -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self.retained = 0


def text_weight(text: str) -> int:
    return sys.getsizeof(text)


def document_weight(text: str, document: DocumentNode) -> int:
    """What keeping `document` (parsed from `text`) costs, about: its text, and
    each token with its own copy of what it says (a comment's, a string's)."""
    weight = text_weight(text)
    token = document.loc.start_token if document.loc else None
    while token is not None:
        weight += TOKEN_BYTES + len(token.value or "")
        token = token.next
    return weight


PARSED: SizedCache[tuple[str, tuple[tuple[str, Any], ...]], DocumentNode] = SizedCache(PARSED_BYTES)


def kept(text: str) -> bool:
    """Whether what is worked out from `text` may be cached at all."""
    return len(text) <= MAX_CACHED_CHARS


def cached_parse(query: str, **options: Any) -> DocumentNode:
    """`graphql.parse`, through PARSED: one parse per short document clients repeat.
    A document that does not parse raises every time (nothing is kept of it)."""
    if not kept(query):
        return parse(query, **options)
    key = (query, tuple(sorted(options.items())))
    document = PARSED.get(key)
    if document is None:
        document = parse(query, **options)
        PARSED.put(key, document, document_weight(query, document))
    return document
