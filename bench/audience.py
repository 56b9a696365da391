"""Customers through journeys: admission, processing, promptness, abort, memory, each beside
its peer or limit from the same run.

On PostgreSQL (`--database-url postgresql://...`): one `journeys serve` and `--workers` (2)
`journeys worker` processes on a private Redis, the distributed mode. On SQLite: one
`journeys serve` in embedded mode, whose own step processor does the work. Phases:

* **events**: `trackEvents` in batches of 1,000 events, each event matching `--listening`
  (10) ACTIVE journeys, so a call admits 10,000 enrollments; events/s. Peer: psycopg (or
  sqlite3) inserting the same 10,000 (journey, customer) rows per batch with a multi-row
  `INSERT ... ON CONFLICT DO NOTHING` into a scratch table of the same shape.
* **processing**: a 1-step SEND journey (`log` channel) with `--customers` enrolled
  (`enrollCustomers`, 10,000 a call; the enrolment rate is printed too) while no worker runs;
  then the workers start, the script waits until their step processors run (their logs say
  so), resumes the journey and waits until every message is DELIVERED: steps/s and the time
  it took, and the CPU a step cost the workers (the API process on SQLite) and PostgreSQL's
  server processes of the bench database, which unlike the rate hardly depends on what else
  the machine runs. Goal: under 2 minutes for 1,000,000 with 2 workers. Limit: a bare
  psycopg loop doing the same batches (lock 1,000 due rows, UPDATE them, INSERT their
  deliveries, commit) on a scratch copy of the enrollments.
* **promptness**, while the processing phase runs: every 0.1 s a `trackEvent` on another
  journey (a SEND), and the time until its delivery row exists; and one on a journey that
  WAITs 1 s before its SEND, and how late its step after the WAIT was (the delivery's
  creation against entry + 1 s, read from the database), for those due while the backlog
  was still being sent. Goal: p99 under 1 s for both.
* **upload**: a CSV of `--customers` ids (with two more columns) streamed to
  `POST /journeys/{id}/audience` of a segment journey: ids/s, client side. Peer: `COPY` of
  the same bytes into a scratch table (peer_copy.py). Goal: at least 0.25x COPY.
* **load**: that journey ACTIVATEd then PAUSED at once (PAUSED keeps loading and holds its
  customers), so the loader's START load is measured alone: customers/s until all entered.
* **abort**: `abortJourney` of that PAUSED journey with its whole list inside. Goal: under
  200 ms; the stats must say `exited` at once.
* **memory**: peak RSS (VmHWM) of the API process and of each worker. Goal: under 300 MB.

Run from the repository root:
    .venv/bin/python bench/audience.py --database-url postgresql://127.0.0.1:5432/test
    .venv/bin/python bench/audience.py --customers 20000          # SQLite, embedded
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from harness import (
    JOURNEYS_CLI,
    REPO,
    Processes,
    Setup,
    add_database_options,
    add_run_options,
    facts,
    fmt,
    graphql,
    open_client,
    percentile,
    prepare,
    run_benchmark,
    start_project,
    start_redis,
    table,
    wait_for_quiet,
)
from peer_audience import bare_admissions, bare_processing
from peer_copy import copy_list
from segment_phases import csv_list, load_rate, start_paused, upload_list

ENROLL = """mutation($id: ID!, $ids: [String!]!) {
  enrollCustomers(journeyId: $id, customerIds: $ids) { admitted rejected { reason } } }"""
TRACK_MANY = (
    "mutation($events: [TrackEventInput!]!) { trackEvents(events: $events) { entered { id } } }"
)
TRACK = 'mutation($c: String!) { trackEvent(name: "ping", customerId: $c) { entered { id } } }'
TICK = 'mutation($c: String!) { trackEvent(name: "tick", customerId: $c) { entered { id } } }'
CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
PAUSE = "mutation($id: ID!) { pauseJourney(id: $id) { status } }"
RESUME = "mutation($id: ID!) { resumeJourney(id: $id) { status } }"
ABORT = "mutation($id: ID!) { abortJourney(id: $id) { status stats { exited inFlight held } } }"
SEND = [{"type": "SEND", "channel": "log", "template": "offer"}]
TICK_WAIT = 1  # seconds the `tick` journey waits before its SEND
ENROLL_BATCH = 10_000
EVENT_BATCH = 1_000
RUNNING = "step processor running"  # jobs/processing.py logs it when it starts


async def journey(client: Any, trigger: str, steps: list[dict[str, Any]] = SEND) -> str:
    input = {"name": trigger, "kind": "EVENT_TRIGGERED", "triggerEvent": trigger, "steps": steps}
    journey_id: str = (await graphql(client, CREATE, {"input": input}))["createJourney"]["id"]
    await graphql(client, ACTIVATE, {"id": journey_id})
    return journey_id


async def enroll(client: Any, journey_id: str, customers: int) -> float:
    started = time.perf_counter()
    for start in range(0, customers, ENROLL_BATCH):
        ids = [f"c{n}" for n in range(start, min(customers, start + ENROLL_BATCH))]
        result = (await graphql(client, ENROLL, {"id": journey_id, "ids": ids}))["enrollCustomers"]
        if result["admitted"] != len(ids):
            raise RuntimeError(f"enrolment refused some: {result['rejected'][:3]}")
    return customers / (time.perf_counter() - started)


async def processors_running(processes: Processes, logs: list[Path]) -> None:
    """Wait until every worker's step processor runs (its log says so): the processing
    phase measures processing, not the workers' start."""
    deadline = time.perf_counter() + 60
    while not all(log.exists() and RUNNING in log.read_text(errors="replace") for log in logs):
        processes.check_alive()
        if time.perf_counter() > deadline:
            raise RuntimeError("the workers' step processors did not start within 60 s")
        await asyncio.sleep(0.1)


_CONNECTIONS: dict[str, Any] = {}  # the script's own connection to each database


def sql_value(setup: Setup, query: str, *params: object) -> Any:
    """The first column of the first row, read on one connection kept open (autocommit):
    polling with a new connection each time forked a PostgreSQL server process a hundred
    times a second while the phase ran, CPU the project's processes then lacked."""
    url = setup.database.url
    connection = _CONNECTIONS.get(url)
    if connection is None:
        if setup.database.is_sqlite:
            import sqlite3

            path = url.removeprefix("sqlite:///")
            connection = sqlite3.connect(path, isolation_level=None)
        else:
            import psycopg

            connection = psycopg.connect(url, autocommit=True)
        _CONNECTIONS[url] = connection
    if setup.database.is_sqlite:
        query = query.replace("%s", "?")
    row = connection.execute(query, params).fetchone()
    return row[0] if row else None


def close_connections() -> None:
    while _CONNECTIONS:
        _CONNECTIONS.popitem()[1].close()


def delivered(setup: Setup, journey_id: str) -> int:
    """The journey's `delivered` counter: kept in the transactions that deliver, so exact,
    and one row to read however many there are (polled every 50 ms)."""
    return int(
        sql_value(setup, "SELECT delivered FROM journey_stats WHERE journey_id = %s", journey_id)
    )


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time these processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving `database` (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if command.startswith("postgres: ") and f" {database} " in command:
                found.append(int(entry.name))
    return found


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def promptness(
    setup: Setup, url: str, journeys: tuple[str, str], stop: asyncio.Event
) -> list[float]:
    """Every 0.1 s a `trackEvent` into the `ping` journey (a SEND), timed from the request
    until its delivery row exists, and one into the `tick` journey (WAIT 1 s, SEND), whose
    lateness is read from the database afterwards (`wait_lateness`). A new connection when
    the server closed an idle one (a wait longer than its keep-alive)."""
    latencies: list[float] = []
    while not stop.is_set():
        async with open_client("raw", url, setup.headers, timeout=120) as client:
            try:
                await _promptness(setup, client, journeys, stop, latencies)
            except (asyncio.IncompleteReadError, ConnectionError):
                continue
    return latencies


async def _promptness(
    setup: Setup, client: Any, journeys: tuple[str, str], stop: asyncio.Event,
    latencies: list[float],
) -> None:  # fmt: skip
    ping, _ = journeys
    while not stop.is_set():
        customer = f"p{len(latencies)}-{time.perf_counter_ns()}"
        asked = time.perf_counter()
        await graphql(client, TRACK, {"c": customer})
        await graphql(client, TICK, {"c": customer})
        while not sql_value(
            setup,
            "SELECT count(*) FROM deliveries WHERE journey_id = %s AND customer_id = %s",
            ping,
            customer,
        ):
            if time.perf_counter() - asked > 10:
                raise RuntimeError("a tracked customer's message was not queued within 10 s")
            await asyncio.sleep(0.01)
        latencies.append(time.perf_counter() - asked)
        await asyncio.sleep(0.1)


def wait_lateness(setup: Setup, tick: str, main: str) -> list[float]:
    """Seconds from each `tick` customer's due time (entry + WAIT) until the step after
    the WAIT queued its message, for those due while the main journey was still sending."""
    if setup.database.is_sqlite:
        import sqlite3

        query = (
            "SELECT (julianday(d.created_at) - julianday(e.entered_at)) * 86400 - ? "
            "FROM deliveries d JOIN enrollments e ON e.id = d.enrollment_id "
            "WHERE d.journey_id = ? AND julianday(e.entered_at) + ? / 86400.0 <= "
            "(SELECT julianday(max(created_at)) FROM deliveries WHERE journey_id = ?)"
        )
        path = setup.database.url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            rows = connection.execute(query, (TICK_WAIT, tick, TICK_WAIT, main)).fetchall()
    else:
        import psycopg

        query = (
            "SELECT extract(epoch FROM d.created_at - e.entered_at) - %s "
            "FROM deliveries d JOIN enrollments e ON e.id = d.enrollment_id "
            "WHERE d.journey_id = %s AND e.entered_at + make_interval(secs => %s) <= "
            "(SELECT max(created_at) FROM deliveries WHERE journey_id = %s)"
        )
        with psycopg.connect(setup.database.url) as connection:
            rows = connection.execute(query, (TICK_WAIT, tick, TICK_WAIT, main)).fetchall()
    return [float(row[0]) for row in rows]


async def benchmark(args: argparse.Namespace, workdir: Path, processes: Processes) -> str:
    busy_before = await wait_for_quiet(args.wait_quiet)
    setup = prepare(args, workdir, processes)
    distributed = not setup.database.is_sqlite
    if distributed:
        redis_url, _ = start_redis(processes, workdir)
        setup.env = {**setup.env, "REDIS_URL": redis_url, "JOURNEYS_QUEUE_NAME": "bench:audience"}
    api = await start_project(setup, "api")
    lines = [*facts(setup, busy_before, f"{args.customers} customers, {args.workers} workers")]
    async with open_client("raw", api.url, setup.headers, timeout=120) as client:
        # -- events (the API admits; processing of them does not matter here)
        for _ in range(args.listening):
            await journey(client, "visit")
        started = time.perf_counter()
        for batch in range(args.event_batches):
            events = [{"name": "visit", "customerId": f"v{batch}-{n}"} for n in range(EVENT_BATCH)]
            await graphql(client, TRACK_MANY, {"events": events})
        events_rate = args.event_batches * EVENT_BATCH / (time.perf_counter() - started)
        bare_events = bare_admissions(setup.database.url, args.event_batches, args.listening)

        # -- processing, with promptness measured meanwhile
        # Both bulk journeys are PAUSED while their customers enter (PAUSED admits and
        # holds): the processing phase starts at RESUME, the abort finds everyone inside.
        main = await journey(client, "bulk")
        prompt = await journey(client, "ping")
        tick = await journey(client, "tick", [{"type": "WAIT", "seconds": TICK_WAIT}, *SEND])
        await graphql(client, PAUSE, {"id": main})
        enroll_rate = await enroll(client, main, args.customers)
        segment_list = csv_list(args.customers)
        uploaded = await upload_list(client, api.url, setup.headers, segment_list)
        copy_rate = copy_list(setup.database.url, segment_list)
        held = uploaded.journey_id
        await start_paused(api.url, setup.headers, held)
        if distributed:
            logs = [workdir / f"worker-{n}.log" for n in range(args.workers)]
            for n, worker_log in enumerate(logs):
                processes.start(
                    f"worker-{n}", [str(JOURNEYS_CLI), "worker"], setup.env, worker_log,
                    cwd=setup.source,
                )  # fmt: skip
            await processors_running(processes, logs)
        loaded_rate = await load_rate(
            api.url, setup.headers, held, args.customers, args.timeout, processes.check_alive
        )
        # CPU of the processors (the workers, or the API process in embedded mode) and of
        # the database's server processes while the phase runs: unlike its rate, the CPU a
        # step costs does not depend on what else the machine is doing.
        processors = processes.pids("worker") if distributed else [api.pid]
        database_processes = [] if not distributed else backends(args.pg_database)
        cpu_before = cpu_seconds(processors), cpu_seconds(database_processes)
        # A new connection: this one idled through the upload and the load.
        async with open_client("raw", api.url, setup.headers, timeout=120) as fresh:
            await graphql(fresh, RESUME, {"id": main})
        started = time.perf_counter()
        stop = asyncio.Event()
        watcher = asyncio.create_task(promptness(setup, api.url, (prompt, tick), stop))
        while delivered(setup, main) < args.customers:
            processes.check_alive()
            if time.perf_counter() - started > args.timeout:
                raise RuntimeError(f"not every message was delivered within {args.timeout} s")
            await asyncio.sleep(0.05)
        processing_seconds = time.perf_counter() - started
        # Server processes that started meanwhile (a new pooled connection) count from 0.
        database_processes = sorted(set(database_processes) | set(backends(args.pg_database)))
        cpu_per_step = [
            (cpu_seconds(pids) - before) / args.customers * 1e6
            for pids, before in zip((processors, database_processes), cpu_before, strict=True)
        ]
        stop.set()
        latencies = await watcher
        # The last ticks are due once the backlog is gone: let them finish, then read.
        await asyncio.sleep(TICK_WAIT + 1)
        lateness = wait_lateness(setup, tick, main)
        close_connections()
        bare_steps = bare_processing(setup.database.url, min(args.customers, 200_000))

    # -- abort with everyone inside (a new connection: the last one idled past keep-alive)
    async with open_client("raw", api.url, setup.headers, timeout=120) as client:
        asked = time.perf_counter()
        aborted = (await graphql(client, ABORT, {"id": held}))["abortJourney"]
        abort_ms = (time.perf_counter() - asked) * 1000
        if aborted["stats"]["exited"] != args.customers:
            raise RuntimeError(f"the abort's stats say {aborted['stats']}")

    memory = {"api": peak_rss_mb(api.pid)}
    memory |= {name: peak_rss_mb(pid) for name, pid in
               ((f"worker-{n}", p) for n, p in enumerate(processes.pids("worker")))}  # fmt: skip
    steps_rate = args.customers / processing_seconds
    projected = f": {1_000_000 / steps_rate:.0f} s projected" if steps_rate else ""
    p50, p99 = (fmt(percentile(latencies, share) * 1000, ".0f") for share in (0.5, 0.99))
    late50, late99 = (fmt(percentile(lateness, share) * 1000, ".0f") for share in (0.5, 0.99))
    rows = [
        [f"events (trackEvents, {args.listening} journeys)", f"{events_rate:,.0f} events/s",
         f"{bare_events:,.0f} events/s (multi-row INSERT ON CONFLICT)", "-"],
        ["enrolment (enrollCustomers)", f"{enroll_rate:,.0f} customers/s", "-", "-"],
        [f"upload: CSV of {args.customers:,} ids",
         f"{uploaded.ids_per_second:,.0f} ids/s ({uploaded.seconds:.1f} s)",
         f"{copy_rate:,.0f} ids/s (COPY)",
         f">= 0.25x COPY: {uploaded.ids_per_second / copy_rate:.2f}x"],
        ["load: the list into its journey", f"{loaded_rate:,.0f} customers/s", "-", "-"],
        ["processing: 1-step SEND", f"{steps_rate:,.0f} steps/s, all in {processing_seconds:.1f} s",
         f"{bare_steps:,.0f} steps/s (one bare loop)", "1,000,000 in < 120 s" + projected],
        ["processing: CPU a step costs",
         f"{'workers' if distributed else 'api'} {cpu_per_step[0]:.0f} us"
         + (f", PostgreSQL {cpu_per_step[1]:.0f} us" if distributed else ""), "-", "-"],
        ["promptness: trackEvent -> queued", f"p50 {p50} ms, p99 {p99} ms ({len(latencies)})",
         "-", "p99 < 1,000 ms"],
        ["promptness: WAIT due -> next step", f"p50 {late50} ms, p99 {late99} ms ({len(lateness)})",
         "-", "p99 < 1,000 ms"],
        [f"abort with {args.customers:,} inside", f"{abort_ms:.0f} ms", "-", "< 200 ms"],
        ["peak RSS", ", ".join(f"{k} {fmt(v, '.0f')} MB" for k, v in memory.items()), "-",
         "< 300 MB each"],
    ]  # fmt: skip
    lines += ["", table(["phase", "project", "peer or limit", "goal"], rows)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_options(parser, "journeys_audience")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--listening", type=int, default=10, help="journeys each event matches")
    parser.add_argument("--event-batches", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--project-source",
        type=Path,
        default=REPO,
        metavar="DIR",
        help="run the project from these sources (e.g. a `git worktree` of another commit)",
    )
    add_run_options(parser)
    args = parser.parse_args(argv)
    return run_benchmark(
        lambda workdir, processes: benchmark(args, workdir, processes),
        keep=args.keep,
        name="audience",
    )


if __name__ == "__main__":
    sys.exit(main())
