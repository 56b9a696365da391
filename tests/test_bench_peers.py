"""The benchmarks' peers (bench/peer_*.py) run their SQL against the project's current
schema: they are written apart from the project's store, so a migration can leave them
behind unnoticed until a benchmark fails. And they stay outside the project: importing them
imports none of its packages. No timing here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from domain.actions import Role
from service.services import Services

BENCH = Path(__file__).parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from peer_db import Db  # noqa: E402

pytestmark = pytest.mark.anyio


async def test_the_peers_create_read_list_and_move_a_journey(
    database_url: str, services: Services
) -> None:
    token = await services.tokens.create("acme", Role.EDITOR, "eddie")
    db = Db(database_url, pool_size=1)
    send = {"type": "SEND", "channel": "log", "template": "t"}
    given = {"name": "Peer", "kind": "EVENT_TRIGGERED", "labels": ["b", "a"], "steps": [send]}
    async with db.lifespan(None):
        caller = await db.writer(f"Bearer {token}")
        created = await db.create(caller, given)
        _, read = await db.journeys(caller, created["id"])
        assert [(view["name"], view["labels"]) for view in read] == [("Peer", ["a", "b"])]
        moved = await db.transition(caller, created["id"], "activate")
        assert (moved["status"], moved["revision"]) == ("ACTIVE", 2)
        total, page = await db.journeys(caller, None, 50)
        assert (total, [view["status"] for view in page]) == (1, ["ACTIVE"])
    assert await services.reads.journey("acme", created["id"]) is not None  # ours reads it


def test_the_peers_import_nothing_of_the_project() -> None:
    peers = sorted(path.stem for path in BENCH.glob("peer_*.py"))
    probe = (
        f"import sys; sys.path.insert(0, {str(BENCH)!r}); import {', '.join(peers)}; "
        "print(sorted({name.split('.')[0] for name in sys.modules} & "
        "{'domain', 'store', 'service', 'gql', 'jobs', 'cli'}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=BENCH
    )
    assert found.stdout.strip() == "[]"
