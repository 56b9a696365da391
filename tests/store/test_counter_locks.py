"""Two transactions that change one journey's counters and node counters wait for each
other instead of deadlocking: each locks the journey's counters' row before its node
counters' rows. An event's release (node counters only) once took the node counters
first, while a worker's batch held the journey's counters and wanted the same node
counters: PostgreSQL broke the cycle by failing the `trackEvents` call."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from service.services import Services
from store.counters import add_to_counters
from store.database import sync_url
from store.node_counters import NodeCounts
from tests.conftest import Callers
from tests.service.flows import running, send

pytestmark = pytest.mark.anyio

WAITING_FOR_A_LOCK = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"
REACHED = """SELECT reached FROM node_counters
  WHERE journey_id = :journey AND node_key = 'thanks' AND branch = ''"""


async def test_a_release_waits_behind_a_batch_that_holds_the_counters(
    services: Services, callers: Callers, database_url: str
):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    journey_id = (await running(services, callers, send("thanks"))).id
    engine = sa.create_engine(sync_url(database_url))
    failures: list[BaseException] = []
    with engine.connect() as batch, engine.connect() as release, engine.connect() as watcher:
        backend = release.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        release.rollback()
        batch.begin()
        add_to_counters(batch, {journey_id: {"queued": 1}})  # the batch holds the counters

        def release_one() -> None:
            released = NodeCounts()
            released.leave(journey_id, "wait", 1)
            released.arrive(journey_id, "thanks", 1)
            try:
                with release.begin():
                    released.save(release)
            except BaseException as error:  # the test reports it below
                failures.append(error)

        releasing = threading.Thread(target=release_one)
        releasing.start()
        try:
            deadline = time.monotonic() + 10
            while not watcher.execute(sa.text(WAITING_FOR_A_LOCK), {"pid": backend}).scalar():
                assert time.monotonic() < deadline, "the release never waited for the batch"
                time.sleep(0.01)
            batched = NodeCounts()
            batched.arrive(journey_id, "thanks", 1)
            batched.save(batch)  # free to take the node counters: the release holds none yet
            batch.commit()
        finally:
            # Whatever failed, the release ends before its connection is closed under it.
            batch.rollback()
            releasing.join(timeout=30)
        assert not releasing.is_alive(), "the release still waits"
        reached = watcher.execute(sa.text(REACHED), {"journey": journey_id}).scalar()
    engine.dispose()
    assert not failures, failures
    assert reached == 2
