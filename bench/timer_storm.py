"""Timer storm: N journeys all due to START at the same second, 2 arq workers.

What is measured
----------------
N journeys (default 1,000) are created and ACTIVATEd in-process through the service layer
(`Services.distributed`, so ACTIVATE goes through the real `ArqScheduler`, which enqueues one
deferred arq job per journey), all with the same `startAt`: the *due second*. It is picked
far enough ahead that creation finishes first: a small probe (journeys in a separate
workspace, due a day later, so they never fire) measures the creation rate, and the due
second is `now + estimated creation time * 1.25 + --lead`, rounded up to a whole second.
`--workers` (default 2) `journeys worker` processes run against a private `redis-server`
(own port, no persistence, so the shared Redis is never touched) and a dedicated PostgreSQL
database (`journeys_storm`, dropped and recreated and migrated with `journeys migrate` for
each run), on a unique `JOURNEYS_QUEUE_NAME`, sweeping every `--sweep-seconds`.

From the due second on, the script polls PostgreSQL (every `--poll` seconds) and reports:

* **all ACTIVE after**: seconds from the due second until the last journey is seen ACTIVE
  (committed and visible), and when 50% / 99% were;
* **lateness** p50 / p99 / max of the START events' `at` column minus the due second (`at` is
  the worker's clock read when it decided to START, before its commit; the visible times
  above include waiting for the commit);
* **duplicates**: journeys with more than one START event (must be 0);
* **misses**: journeys not ACTIVE at due + `--timeout` seconds (must be 0). Polling goes on
  for up to `--drain` more seconds, to tell late journeys (and when the last one started)
  from journeys never started at all.

and, to explain the figures: STARTs made visible per second, which path applied the STARTs
(deferred jobs or the sweep, from the workers' logs), the jobs' run times, transactions
committed (pg_stat_database), the workers' CPU time, how busy the machine was, and what the
database backends were doing (pg_stat_activity sampled at each poll, by state, wait event
and statement). With `--profile DIR`, py-spy samples each worker during the storm (raw
stacks kept in DIR) and the functions most often on CPU are printed. The first lines
printed name the code measured (a hash of the project's source files), as it may change
between runs.

Two runs: **normal**, then **flush**: the same, with Redis FLUSHALL one second before the
due second, so every deferred job is lost and only the workers' sweep can START the
journeys (DESIGN.md section 4: "a flushed Redis must lose nothing").
Goal (both runs): all ACTIVE within 5 s of the due second, 0 duplicates, 0 misses.

Workers and redis-server are stopped at the end, also on errors and Ctrl-C. The database is
left in place for inspection (it is recreated by the next run).

Run from the repository root:
    .venv/bin/python bench/timer_storm.py
    .venv/bin/python bench/timer_storm.py --journeys 10000
    .venv/bin/python bench/timer_storm.py --runs flush --sweep-seconds 1 --log-dir /tmp/storm
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
import redis
from harness import (
    JOURNEYS_CLI,
    REPO,
    Processes,
    busy_between,
    code_fingerprint,
    machine_line,
    machine_ticks,
    percentile,
    postgres_value,
    process_cpu_seconds,
    recreate_postgres,
    run_cli,
    run_directory,
    start_redis,
)
from worker_logs import LogFacts, read_logs
from worker_profiles import WorkerProfiles

sys.path.insert(0, str(REPO))  # run as a script: make the project's packages importable

from domain.actions import Action, Role
from domain.content import Content, JourneyKind, Step, StepType
from service.services import Services
from service.settings import Settings
from service.tokens import Principal

GOAL_SECONDS = 5.0
GOAL_LINE = "goal: all ACTIVE within 5 s of the due second, 0 duplicates, 0 misses"
PROBE_WORKSPACE = "storm-probe"
RUN_KINDS = ("normal", "flush")


@dataclass(frozen=True)
class Options:
    journeys: int
    workers: int
    workspaces: int
    sweep_seconds: int
    concurrency: int
    lead: float
    timeout: float
    drain: float
    poll: float
    runs: tuple[str, ...]
    pg_host: str
    pg_port: int
    pg_user: str
    database: str
    log_dir: Path | None
    profile: Path | None


@dataclass
class RunResult:
    kind: str
    created_seconds: float = 0.0
    creation_overran: bool = False
    queued_jobs: int = 0
    queued_after_flush: int | None = None
    due: datetime = field(default_factory=lambda: datetime.now(UTC))
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
    logs: LogFacts | None = None
    profiles: list[str] = field(default_factory=list)
    load_at_due: float = 0.0  # 1-minute load average: other users of the machine show here

    @property
    def goal_met(self) -> bool:
        return (
            self.all_active_after is not None
            and self.all_active_after <= GOAL_SECONDS
            and self.duplicates == 0
            and self.misses == 0
            and not self.creation_overran
        )


def sleep_until(when: datetime) -> None:
    delay = (when - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


# -- the database and Redis -------------------------------------------------------------


class Postgres:
    def __init__(self, options: Options) -> None:
        self.options = options
        server = f"postgresql://{options.pg_user}@{options.pg_host}:{options.pg_port}"
        self.admin_url = f"{server}/postgres"
        self.url = f"{server}/{options.database}"

    def recreate(self) -> None:
        recreate_postgres(self.admin_url, self.options.database)

    def version(self) -> str:
        return postgres_value(self.admin_url, "SELECT version()")

    def setting(self, name: str) -> str:
        return postgres_value(self.admin_url, f"SHOW {name}")


def queued(client: redis.Redis, queue: str) -> int:
    """Jobs waiting in an arq queue (a sorted set)."""
    return int(cast(int, client.zcard(queue)))


# -- creating the journeys ------------------------------------------------------------------


async def create_storm(
    settings: Settings, options: Options, workspaces: list[str]
) -> tuple[datetime, float, bool]:
    """Create and ACTIVATE the journeys; returns (due second, creation seconds, overran)."""
    services = Services.distributed(settings)
    try:
        principals: dict[str, Principal] = {}
        for workspace in [PROBE_WORKSPACE, *workspaces]:
            token = await services.tokens.create(workspace, Role.EDITOR, name="storm-bench")
            principals[workspace] = await services.tokens.authenticate(f"Bearer {token}")
        gate = asyncio.Semaphore(options.concurrency)

        async def one(principal: Principal, number: int, start_at: datetime) -> None:
            async with gate:
                content = Content(
                    steps=(Step(StepType.WAIT, seconds=60),),
                    start_at=start_at,
                    trigger_event="storm",
                )
                journey = await services.commands.create(
                    principal,
                    name=f"storm {number}",
                    kind=JourneyKind.EVENT_TRIGGERED,
                    content=content,
                )
                await services.commands.take(principal, journey.id, Action.ACTIVATE)

        # Probe: how fast do we create? Due in a day, in its own workspace: never fires.
        probe_count = min(200, max(20, options.journeys // 20))
        far = datetime.now(UTC) + timedelta(days=1)
        began = time.monotonic()
        await asyncio.gather(
            *(one(principals[PROBE_WORKSPACE], n, far) for n in range(probe_count))
        )
        per_journey = (time.monotonic() - began) / probe_count
        estimate = per_journey * options.journeys * 1.25
        due = datetime.now(UTC) + timedelta(seconds=estimate + options.lead)
        due = due.replace(microsecond=0) + timedelta(seconds=1)
        print(
            f"  probe: {probe_count} journeys at {1 / per_journey:.0f}/s; "
            f"estimate {estimate:.1f} s for {options.journeys}; due second {due:%H:%M:%S}",
            flush=True,
        )

        began = time.monotonic()
        await asyncio.gather(
            *(
                one(principals[workspaces[n % len(workspaces)]], n, due)
                for n in range(options.journeys)
            )
        )
        created = time.monotonic() - began
        # The flush run empties Redis one second before the due second: creation must be done.
        overran = datetime.now(UTC) > due - timedelta(seconds=1.5)
        return due, created, overran
    finally:
        await services.close()


# -- measuring ------------------------------------------------------------------------------


BACKENDS_SQL = """
SELECT state,
       coalesce(wait_event_type || '/' || wait_event, 'on CPU'),
       left(regexp_replace(query, '\\s+', ' ', 'g'), 28)
FROM pg_stat_activity
WHERE datname = %s AND pid <> pg_backend_pid() AND state <> 'idle'
"""


def commits_so_far(connection: psycopg.Connection[Any], database: str) -> int:
    row = connection.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)
    ).fetchone()
    return int(row[0]) if row else 0


def watch_storm(
    connection: psycopg.Connection[Any],
    options: Options,
    workspaces: list[str],
    result: RunResult,
    worker_pids: list[int],
    at_end: Callable[[], None],
) -> None:
    """Poll from the due second until every journey is ACTIVE, or timeout + drain passed.

    `at_end` is called as soon as polling stops (to stop profilers).
    """
    connection.execute("SELECT pg_stat_clear_snapshot()")
    commits_before = commits_so_far(connection, options.database)
    cpu_before = [process_cpu_seconds(pid) or 0.0 for pid in worker_pids]
    ticks_before = machine_ticks()
    due = result.due
    deadline = due + timedelta(seconds=options.timeout)
    end = deadline + timedelta(seconds=options.drain)
    active = 0
    result.misses = options.journeys
    while True:
        now = datetime.now(UTC)
        active_row = connection.execute(
            "SELECT count(*) FROM journeys WHERE workspace_id = ANY(%s) AND status = 'ACTIVE'",
            (workspaces,),
        ).fetchone()
        active = int(active_row[0]) if active_row else 0
        seen = (datetime.now(UTC) - due).total_seconds()
        result.timeline.append((seen, active))
        result.polls += 1
        for state, wait, query in connection.execute(BACKENDS_SQL, (options.database,)):
            result.backend_samples[f"{state} | {wait} | {query}"] += 1
        if now <= deadline:
            result.misses = options.journeys - active
        if active >= options.journeys:
            result.all_active_after = seen
            break
        if now >= end:
            break
        time.sleep(options.poll)
    result.storm_seconds = max((datetime.now(UTC) - due).total_seconds(), 1e-3)
    at_end()
    result.never = options.journeys - active
    result.worker_cpu = [
        (process_cpu_seconds(pid) or 0.0) - before
        for pid, before in zip(worker_pids, cpu_before, strict=True)
    ]
    result.machine_busy = busy_between(ticks_before, machine_ticks())
    connection.execute("SELECT pg_stat_clear_snapshot()")
    # pg_stat_database is flushed by backends at most once a second: wait for it.
    time.sleep(1.2)
    connection.execute("SELECT pg_stat_clear_snapshot()")
    result.commits = commits_so_far(connection, options.database) - commits_before


def read_events(
    connection: psycopg.Connection[Any], workspaces: list[str], result: RunResult
) -> None:
    rows = connection.execute(
        "SELECT journey_id, at FROM status_events "
        "WHERE workspace_id = ANY(%s) AND action = 'START'",
        (workspaces,),
    ).fetchall()
    per_journey = Counter(journey_id for journey_id, _ in rows)
    result.duplicates = sum(1 for count in per_journey.values() if count > 1)
    result.lateness = [(at - result.due).total_seconds() for _, at in rows]


# -- one run -------------------------------------------------------------------------------


def run_once(
    kind: str,
    options: Options,
    postgres: Postgres,
    redis_url: str,
    redis_client: redis.Redis,
    logdir: Path,
    processes: Processes,
) -> RunResult:
    print(f"\n== run {kind}: {options.journeys} journeys ==", flush=True)
    result = RunResult(kind)
    print(f"  code: {code_fingerprint()}", flush=True)
    postgres.recreate()
    redis_client.flushall()
    queue = f"storm:{kind}:{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JOURNEYS_", "DATABASE_"))},
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis_url,
        "JOURNEYS_QUEUE_NAME": queue,
        "JOURNEYS_SWEEP_SECONDS": str(options.sweep_seconds),
        "PYTHONUNBUFFERED": "1",
    }
    run_cli(["migrate"], env)

    logs = [logdir / f"{kind}-worker-{n + 1}.log" for n in range(options.workers)]
    for n, log in enumerate(logs):
        processes.start(f"worker-{kind}-{n + 1}", [str(JOURNEYS_CLI), "worker"], env, log)
    health_key = f"{queue}:health-check"
    deadline = time.monotonic() + 30
    while not redis_client.exists(health_key):
        processes.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("no worker recorded its health within 30 s")
        time.sleep(0.1)

    settings = Settings(
        database_url=postgres.url,
        redis_url=redis_url,
        sweep_seconds=options.sweep_seconds,
        queue_name=queue,
    )
    workspaces = [f"storm-{n + 1}" for n in range(options.workspaces)]
    due, created, overran = asyncio.run(create_storm(settings, options, workspaces))
    result.due, result.created_seconds, result.creation_overran = due, created, overran
    result.queued_jobs = queued(redis_client, queue)
    print(
        f"  created and activated {options.journeys} in {created:.1f} s "
        f"({options.journeys / created:.0f}/s); deferred jobs in the queue: "
        f"{result.queued_jobs} (including the probe's)"
        + ("  ** creation overran the due second: figures are not valid **" if overran else ""),
        flush=True,
    )
    processes.check_alive()

    if kind == "flush":
        sleep_until(due - timedelta(seconds=1))
        redis_client.flushall()
        result.queued_after_flush = queued(redis_client, queue)
        print(
            f"  FLUSHALL at due - {(due - datetime.now(UTC)).total_seconds():.2f} s; "
            f"deferred jobs left: {result.queued_after_flush}",
            flush=True,
        )
    worker_pids = processes.pids(f"worker-{kind}-")
    profiles = WorkerProfiles(processes, kind, options.profile)
    sleep_until(due - timedelta(seconds=0.3))
    profiles.start(worker_pids)

    def stop_profiles() -> None:
        result.profiles = profiles.stop()

    sleep_until(due)
    result.load_at_due = os.getloadavg()[0]
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        watch_storm(connection, options, workspaces, result, worker_pids, stop_profiles)
        # Let any job or sweep still in flight finish before counting duplicates.
        time.sleep(options.sweep_seconds + 1)
        read_events(connection, workspaces, result)
    processes.check_alive()
    processes.stop(f"worker-{kind}-")
    result.logs = read_logs(logs)
    print(report_run(result, options), flush=True)
    return result


# -- reporting -------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    """None: the moment never came while watched; NaN: nothing to measure."""
    if value is None:
        return "never"
    return "-" if math.isnan(value) else f"{value:.2f} s"


def crossing(timeline: list[tuple[float, int]], target: int) -> float | None:
    """When the ACTIVE count first reached `target` (seconds after due)."""
    return next((at for at, active in timeline if active >= target), None)


def report_run(result: RunResult, options: Options) -> str:
    n = options.journeys
    lines = [
        f"  due second: {result.due.isoformat()}",
        f"  all ACTIVE after: {seconds(result.all_active_after)} "
        f"(seen in PostgreSQL, polling every {options.poll} s, {result.polls} polls)",
        "  visible ACTIVE: "
        + ", ".join(
            f"{label} at {seconds(crossing(result.timeline, math.ceil(share * n)))}"
            for label, share in (("1%", 0.01), ("50%", 0.5), ("99%", 0.99), ("100%", 1.0))
        ),
        "  ACTIVE count by time: "
        + ", ".join(
            f"+{mark:g} s: {max((a for t, a in result.timeline if t <= mark), default=0)}"
            for mark in (0.5, 1, 2, 5, 10, 20, 30, 60)
            if mark <= (result.timeline[-1][0] if result.timeline else 0) + 1
        ),
        f"  START `at` lateness: p50 {seconds(percentile(result.lateness, 0.5))}, "
        f"p99 {seconds(percentile(result.lateness, 0.99))}, "
        f"max {seconds(max(result.lateness, default=float('nan')))} "
        f"({len(result.lateness)} START events)",
        f"  duplicates: {result.duplicates}   misses (not ACTIVE at due + {options.timeout:g} s):"
        f" {result.misses}   still not ACTIVE when the watch ended: {result.never}",
    ]
    first, last = crossing(result.timeline, 1), result.all_active_after
    if first is not None and last is not None and last > first:
        lines.append(
            f"  STARTs made visible: {n / (last - first):.0f}/s (first to last visible ACTIVE)"
        )
    if result.commits is not None:
        lines.append(
            f"  transactions committed in the database (reads, polls too): {result.commits} "
            f"({result.commits / result.storm_seconds:.0f}/s over {result.storm_seconds:.1f} s)"
        )
    cpu = ", ".join(f"{value:.1f} s" for value in result.worker_cpu)
    busy = f"{result.machine_busy:.0%}" if result.machine_busy is not None else "?"
    lines.append(
        f"  worker CPU during the storm: {cpu}; machine busy (all cores): {busy}; "
        f"load average at due {result.load_at_due:.2f}"
    )
    facts = result.logs
    if facts is not None:
        lines.append(
            f"  deferred START jobs: {facts.jobs_true} journeys applied by jobs, "
            f"{facts.jobs_false} jobs found nothing due, {facts.jobs_failed} failed; run time p50 "
            f"{seconds(percentile(facts.job_seconds, 0.5))}, max "
            f"{seconds(max(facts.job_seconds, default=float('nan')))}; arq start delay "
            f"(>1.2 s only) on {len(facts.delayed)} jobs, max "
            f"{seconds(max(facts.delayed, default=float('nan')))}"
        )
        lines.append(
            f"  sweeps that moved journeys: {facts.sweep_runs} (longest "
            f"{seconds(max(facts.sweep_seconds, default=float('nan')))}), moved "
            f"{sum(facts.sweep_moved)} journeys ({facts.sweep_moved or 'none'})"
        )
        for error in facts.errors[:5]:
            lines.append(f"  worker log: {error[:160]}")
    lines.extend(result.profiles)
    lines.append("  database backends, sampled at each poll (state | wait | statement):")
    total = sum(result.backend_samples.values()) or 1
    for label, count in result.backend_samples.most_common(8):
        per_poll = count / max(result.polls, 1)
        lines.append(f"    {per_poll:6.1f} per poll ({count / total:4.0%})  {label}")
    return "\n".join(lines)


def visible_rate(result: RunResult, n: int) -> str:
    first, last = crossing(result.timeline, 1), result.all_active_after
    if first is None or last is None or last <= first:
        return "-"
    return f"{n / (last - first):.0f}/s"


def summary(results: list[RunResult], options: Options) -> str:
    """Both runs side by side, with the goal in the last column."""
    n = options.journeys
    width = 16
    header = f"{'':<36}" + "".join(f"{'run ' + r.kind:>{width}}" for r in results)
    header += f"{'goal':>{width}}"
    rows: list[tuple[str, list[str], str]] = [
        (
            "all ACTIVE after the due second",
            [seconds(r.all_active_after) for r in results],
            f"<= {GOAL_SECONDS:.2f} s",
        ),
        (
            "50% visibly ACTIVE after",
            [seconds(crossing(r.timeline, math.ceil(n / 2))) for r in results],
            "",
        ),
        ("STARTs made visible per second", [visible_rate(r, n) for r in results], ""),
        ("lateness p50 (`at` - due)", [seconds(percentile(r.lateness, 0.5)) for r in results], ""),
        ("lateness p99", [seconds(percentile(r.lateness, 0.99)) for r in results], ""),
        ("lateness max", [seconds(max(r.lateness, default=float("nan"))) for r in results], ""),
        ("duplicates", [str(r.duplicates) for r in results], "0"),
        (
            f"misses (not ACTIVE at due + {options.timeout:g} s)",
            [str(r.misses) for r in results],
            "0",
        ),
        ("never ACTIVE while watched", [str(r.never) for r in results], "0"),
        ("goal", ["met" if r.goal_met else "MISSED" for r in results], ""),
    ]
    lines = [header]
    for name, values, goal in rows:
        lines.append(f"{name:<36}" + "".join(f"{v:>{width}}" for v in [*values, goal]))
    lines.append(GOAL_LINE)
    return "\n".join(lines)


def machine_facts(postgres: Postgres) -> list[str]:
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout.split()
    version = next((w for w in redis_version if w.startswith("v=")), "v=?")[2:]
    load = os.getloadavg()
    return [
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        machine_line(f"; load average before start {load[0]:.2f} {load[1]:.2f}"),
        f"python: {platform.python_version()}",
        f"postgresql: {postgres.version()}; synchronous_commit="
        f"{postgres.setting('synchronous_commit')}, max_connections="
        f"{postgres.setting('max_connections')}",
        f"redis: private redis-server {version} (no persistence)",
    ]


# -- main ---------------------------------------------------------------------------------


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=1000, help="journeys due at once")
    parser.add_argument("--workers", type=int, default=2, help="`journeys worker` processes")
    parser.add_argument(
        "--workspaces", type=int, default=1, help="spread the journeys over this many workspaces"
    )
    parser.add_argument(
        "--sweep-seconds", type=int, default=2, help="JOURNEYS_SWEEP_SECONDS (1 to 60)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="creations in flight at once")
    parser.add_argument(
        "--lead", type=float, default=5.0, help="seconds between estimated end of creation and due"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="a journey not ACTIVE by due + this is a miss"
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=300.0,
        help="after the timeout, keep watching this long to see when the last journey starts",
    )
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between polls")
    parser.add_argument(
        "--runs", default="normal,flush", help="comma-separated: normal, flush (default both)"
    )
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument(
        "--database", default="journeys_storm", help="dropped and recreated for each run"
    )
    parser.add_argument(
        "--log-dir", type=Path, help="keep worker logs here (default: a temporary directory)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy each worker during the storm; raw stacks are written to this directory",
    )
    args = parser.parse_args(argv)
    runs = tuple(run.strip() for run in args.runs.split(",") if run.strip())
    if not runs or any(run not in RUN_KINDS for run in runs):
        parser.error(f"--runs takes a comma-separated list of {', '.join(RUN_KINDS)}")
    if args.journeys < 1 or args.workers < 1 or args.workspaces < 1 or args.concurrency < 1:
        parser.error("--journeys, --workers, --workspaces and --concurrency must be positive")
    if not 1 <= args.sweep_seconds <= 60:
        parser.error("--sweep-seconds must be from 1 to 60")
    chosen = {name: getattr(args, name) for name in Options.__dataclass_fields__}
    return Options(**{**chosen, "runs": runs})


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    postgres = Postgres(options)
    results: list[RunResult] = []
    with run_directory("storm", keep=False) as (workdir, processes):
        logdir = options.log_dir or workdir
        logdir.mkdir(parents=True, exist_ok=True)
        facts = machine_facts(postgres)
        print("\n".join(facts))
        print(
            f"settings: {options.journeys} journeys over {options.workspaces} workspace(s), "
            f"{options.workers} workers (max_jobs and poll_delay as in jobs/worker.py), "
            f"JOURNEYS_SWEEP_SECONDS={options.sweep_seconds}, creation concurrency "
            f"{options.concurrency}, database {options.database!r}",
            flush=True,
        )
        redis_url, redis_client = start_redis(processes, workdir)
        for kind in options.runs:
            results.append(
                run_once(kind, options, postgres, redis_url, redis_client, logdir, processes)
            )
        print("\n== summary ==")
        print("\n".join(facts))
        print(summary(results, options))
        if options.log_dir:
            print(f"worker logs: {options.log_dir}")
    return 0 if all(result.goal_met for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
