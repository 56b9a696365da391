"""timer_storm.py's PostgreSQL side: the storm's database, and watching the storm in it.

* `Postgres`: the run's database (dropped and recreated for each run) on a server, whose
  version and settings the report names;
* `watch_storm`: from the due second, a poll every `poll` seconds of how many journeys are
  ACTIVE (committed and visible), with `pg_stat_activity` sampled at each poll (by state,
  wait event and statement), the transactions committed (`pg_stat_database`), the workers'
  CPU and how busy the machine was, until every journey is ACTIVE or timeout + drain passed;
* `read_events`: the START events afterwards, for lateness and duplicates.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from harness import (
    busy_between,
    machine_ticks,
    postgres_value,
    process_cpu_seconds,
    recreate_postgres,
)

BACKENDS_SQL = """
SELECT state,
       coalesce(wait_event_type || '/' || wait_event, 'on CPU'),
       left(regexp_replace(query, '\\s+', ' ', 'g'), 28)
FROM pg_stat_activity
WHERE datname = %s AND pid <> pg_backend_pid() AND state <> 'idle'
"""


class Postgres:
    def __init__(self, user: str, host: str, port: int, database: str) -> None:
        self.database = database
        server = f"postgresql://{user}@{host}:{port}"
        self.admin_url = f"{server}/postgres"
        self.url = f"{server}/{database}"

    def recreate(self) -> None:
        recreate_postgres(self.admin_url, self.database)

    def version(self) -> str:
        return postgres_value(self.admin_url, "SELECT version()")

    def setting(self, name: str) -> str:
        return postgres_value(self.admin_url, f"SHOW {name}")


@dataclass
class Watch:
    """What PostgreSQL showed of one storm, and what the workers spent meanwhile."""

    # (seconds after the due second, journeys ACTIVE) at each poll
    timeline: list[tuple[float, int]] = field(default_factory=list)
    all_active_after: float | None = None
    lateness: list[float] = field(default_factory=list)  # START `at` - due, seconds
    duplicates: int = 0
    misses: int = 0  # not ACTIVE at due + timeout
    never: int = 0  # not ACTIVE at the end of the watch (due + timeout + drain)
    commits: int | None = None
    storm_seconds: float = 0.0
    worker_cpu: list[float] = field(default_factory=list)
    machine_busy: float | None = None
    backend_samples: Counter[str] = field(default_factory=Counter)
    polls: int = 0


def commits_so_far(connection: psycopg.Connection[Any], database: str) -> int:
    row = connection.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)
    ).fetchone()
    return int(row[0]) if row else 0


def watch_storm(
    connection: psycopg.Connection[Any],
    database: str,
    workspaces: list[str],
    journeys: int,
    due: datetime,
    worker_pids: list[int],
    *,
    timeout: float,
    drain: float,
    poll: float,
    at_end: Callable[[], None],
) -> Watch:
    """Poll from the due second until every journey is ACTIVE, or timeout + drain passed.

    `at_end` is called as soon as polling stops (to stop profilers).
    """
    watch = Watch()
    connection.execute("SELECT pg_stat_clear_snapshot()")
    commits_before = commits_so_far(connection, database)
    cpu_before = [process_cpu_seconds(pid) or 0.0 for pid in worker_pids]
    ticks_before = machine_ticks()
    deadline = due + timedelta(seconds=timeout)
    end = deadline + timedelta(seconds=drain)
    active = 0
    watch.misses = journeys
    while True:
        now = datetime.now(UTC)
        active_row = connection.execute(
            "SELECT count(*) FROM journeys WHERE workspace_id = ANY(%s) AND status = 'ACTIVE'",
            (workspaces,),
        ).fetchone()
        active = int(active_row[0]) if active_row else 0
        seen = (datetime.now(UTC) - due).total_seconds()
        watch.timeline.append((seen, active))
        watch.polls += 1
        for state, wait, query in connection.execute(BACKENDS_SQL, (database,)):
            watch.backend_samples[f"{state} | {wait} | {query}"] += 1
        if now <= deadline:
            watch.misses = journeys - active
        if active >= journeys:
            watch.all_active_after = seen
            break
        if now >= end:
            break
        time.sleep(poll)
    watch.storm_seconds = max((datetime.now(UTC) - due).total_seconds(), 1e-3)
    at_end()
    watch.never = journeys - active
    watch.worker_cpu = [
        (process_cpu_seconds(pid) or 0.0) - before
        for pid, before in zip(worker_pids, cpu_before, strict=True)
    ]
    watch.machine_busy = busy_between(ticks_before, machine_ticks())
    connection.execute("SELECT pg_stat_clear_snapshot()")
    # pg_stat_database is flushed by backends at most once a second: wait for it.
    time.sleep(1.2)
    connection.execute("SELECT pg_stat_clear_snapshot()")
    watch.commits = commits_so_far(connection, database) - commits_before
    return watch


def read_events(
    connection: psycopg.Connection[Any], workspaces: list[str], due: datetime, watch: Watch
) -> None:
    """The START events: lateness (`at` - due) and journeys started more than once."""
    rows = connection.execute(
        "SELECT journey_id, at FROM status_events "
        "WHERE workspace_id = ANY(%s) AND action = 'START'",
        (workspaces,),
    ).fetchall()
    per_journey = Counter(journey_id for journey_id, _ in rows)
    watch.duplicates = sum(1 for count in per_journey.values() if count > 1)
    watch.lateness = [(at - due).total_seconds() for _, at in rows]
