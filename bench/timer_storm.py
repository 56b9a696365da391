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
journeys (docs/rules.md, "Time": "a flushed Redis must lose nothing").
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
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
from harness import Processes, code_fingerprint, run_cli, run_directory, start_redis
from pg_watch import Postgres, read_events, watch_storm
from storm import Backend, create_storm, queued, start_workers
from storm_report import RunResult, machine_facts, report_run, summary
from worker_logs import read_logs
from worker_profiles import WorkerProfiles

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


def sleep_until(when: datetime) -> None:
    delay = (when - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


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
    backend = Backend(postgres.url, redis_url, queue, options.sweep_seconds)
    run_cli(["migrate"], backend.env())
    logs = [logdir / f"{kind}-worker-{n + 1}.log" for n in range(options.workers)]
    start_workers(processes, kind, backend, logs, redis_client)

    workspaces = [f"storm-{n + 1}" for n in range(options.workspaces)]
    due, created, overran = asyncio.run(
        create_storm(
            backend, workspaces, options.journeys, concurrency=options.concurrency,
            lead=options.lead,
        )
    )  # fmt: skip
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
        result.watch = watch_storm(
            connection, options.database, workspaces, options.journeys, due, worker_pids,
            timeout=options.timeout, drain=options.drain, poll=options.poll,
            at_end=stop_profiles,
        )  # fmt: skip
        # Let any job or sweep still in flight finish before counting duplicates.
        time.sleep(options.sweep_seconds + 1)
        read_events(connection, workspaces, due, result.watch)
    processes.check_alive()
    processes.stop(f"worker-{kind}-")
    result.logs = read_logs(logs)
    print(report_run(result, options.journeys, options.poll, options.timeout), flush=True)
    return result


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
    postgres = Postgres(options.pg_user, options.pg_host, options.pg_port, options.database)
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
        print(summary(results, options.journeys, options.timeout))
        if options.log_dir:
            print(f"worker logs: {options.log_dir}")
    return 0 if all(result.goal_met for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
