"""The benchmarks' peers (bench/peer_*.py) run their SQL against the project's current
schema: they are written apart from the project's store, so a migration can leave them
behind unnoticed until a benchmark fails. No timing here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from domain.actions import Role
from service.services import Services

BENCH = Path(__file__).parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from peer_common import MOVES, Caller, NewJourney, Store  # noqa: E402
from peer_postgres import PostgresStore  # noqa: E402
from peer_sqlite import SqliteStore  # noqa: E402

pytestmark = pytest.mark.anyio


async def test_the_peers_create_read_list_and_move_a_journey(
    database_url: str, services: Services
) -> None:
    await services.tokens.create("acme", Role.EDITOR, "eddie")  # the workspace
    if database_url.startswith("sqlite"):
        store: Store = SqliteStore(database_url.removeprefix("sqlite:///"), threaded=False)
    else:
        store = PostgresStore(database_url, pool_size=1)
    caller = Caller("acme", "eddie", "EDITOR")
    send = {"type": "SEND", "channel": "log", "template": "t"}
    given = {"name": "Peer", "kind": "EVENT_TRIGGERED", "labels": ["b", "a"], "steps": [send]}
    await store.open()
    try:
        created = await store.create(caller, NewJourney.of(given))
        read = await store.journey(caller, created.id)
        assert read is not None and (read.name, read.labels) == ("Peer", ["a", "b"])
        assert await store.transition(caller, created.id, MOVES["activate"]) == ("ACTIVE", 2)
        total, page = await store.journeys(caller, 50)
        assert (total, [view.status for view in page]) == (1, ["ACTIVE"])
        assert await services.reads.journey("acme", created.id) is not None  # ours reads it
    finally:
        await store.close()
