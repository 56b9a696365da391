"""The heap policy: freeze after connections open, collect in full when the frozen heap doubled."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gql.live.heap import LongLivedHeap


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    # Automatic collections off: only the policy's own collections may free anything.
    gc.disable()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.enable()


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector can free it


def test_nothing_is_frozen_until_connections_open():
    heap = LongLivedHeap()
    heap.tick()
    assert gc.get_freeze_count() == 0
    heap.connection_opened()
    heap.tick()
    assert gc.get_freeze_count() > 0
    frozen = gc.get_freeze_count()
    heap.tick()  # no connection since: nothing more to do
    assert gc.get_freeze_count() == frozen


def test_cyclic_garbage_among_frozen_objects_waits_for_the_reclaim():
    heap = LongLivedHeap()
    heap.start()
    baseline = gc.get_freeze_count()
    connections = [Node() for _ in range(1000)]
    alive = [weakref.ref(node) for node in connections]
    heap.connection_opened()
    heap.tick()  # grew, but not doubled: frozen, not collected
    assert gc.get_freeze_count() >= baseline + 1000
    del connections
    gc.collect()
    assert all(ref() is not None for ref in alive)  # frozen: the collector does not see them

    heap.reclaim()
    assert all(ref() is None for ref in alive)


def test_a_doubled_frozen_heap_is_collected_in_full():
    heap = LongLivedHeap()
    heap.start()
    baseline = gc.get_freeze_count()
    garbage = [Node() for _ in range(100)]
    gone = [weakref.ref(node) for node in garbage]
    del garbage  # cyclic garbage the next freeze would keep...
    survivors = [[] for _ in range(2 * baseline)]
    heap.connection_opened()
    heap.tick()  # ...but the heap doubled: unfrozen, collected, frozen again
    assert all(ref() is None for ref in gone)
    assert gc.get_freeze_count() >= len(survivors)
