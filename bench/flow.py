"""Customers through a flow with branches, beside the same customers through a straight line,
in one run; then releases by events, goal exits, an abort and memory.

On PostgreSQL (`--database-url postgresql://...`): one `journeys serve` and `--workers` (2)
`journeys worker` processes on a private Redis, the distributed mode. Phases:

* **line**: `--customers` (1,000,000) enrolled into a PAUSED one-step SEND journey, then
  RESUMEd with the workers running: steps/s until every one completed.
* **flow**: the same customers (their profiles imported first through `POST /customers`,
  half of them `plan: vip`) through SPLIT 50/50 -> (a) CONDITION plan is vip -> yes: SEND,
  no: WAIT_FOR_EVENT (10 s timeout) -> SEND; (b) SEND. Node applications/s (every node
  each customer reached: 2.75 per customer) until every one completed, against the line's
  steps/s. Goal: at least 0.75x.
* **release**: `--waiting` (1,000,000) customers waiting at a WAIT_FOR_EVENT (a day's
  timeout) followed by a SEND; `trackEvents` of the awaited event for 10,000 of them, in
  calls of 1,000: for each, the time from the call until the SEND after the wait queued
  its message (read from the database). Goal: p99 under 1 s.
* **goal**: `trackEvents` of the journey's goal event for 10,000 others, in calls of
  1,000: a customer is out when the call that tracked it has answered. Goal: p99 < 1 s.
* **abort**: `abortJourney` of that journey with everyone else still inside. Goal: < 200 ms.
* **memory**: peak RSS (VmHWM) of the API process and each worker. Goal: under 300 MB.

Run from the repository root:
    .venv/bin/python bench/flow.py --database-url postgresql://127.0.0.1:5432/test
    .venv/bin/python bench/flow.py --database-url postgresql://127.0.0.1:5432/test \\
        --customers 20000 --waiting 20000          # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from audience import (
    ENROLL_BATCH,
    close_connections,
    enroll,
    peak_rss_mb,
    processors_running,
    sql_value,
)
from harness import (
    JOURNEYS_CLI,
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

CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
PAUSE = "mutation($id: ID!) { pauseJourney(id: $id) { status } }"
RESUME = "mutation($id: ID!) { resumeJourney(id: $id) { status } }"
ABORT = "mutation($id: ID!) { abortJourney(id: $id) { status stats { exited } } }"
TRACK_MANY = """mutation($events: [TrackEventInput!]!) {
  trackEvents(events: $events) { released { id } converted { id } } }"""


def send(key: str) -> dict[str, Any]:
    return {"key": key, "type": "SEND", "channel": "log", "template": key}


LINE = [send("offer")]
BRANCHING: list[dict[str, Any]] = [
    {"key": "ab", "type": "SPLIT", "branches": [
        {"key": "a", "percent": 50, "next": "vip"}, {"key": "b", "percent": 50, "next": "sb"}]},
    {"key": "vip", "type": "CONDITION", "yes": "sy", "no": "w",
     "condition": {"attribute": {"name": "plan", "op": "EQUALS", "value": "vip"}}},
    send("sy"),
    {"key": "w", "type": "WAIT_FOR_EVENT", "event": "buy", "timeoutSeconds": 10,
     "next": None, "onTimeout": "sw"},
    send("sw"),
    send("sb"),
]  # fmt: skip
WAITING: list[dict[str, Any]] = [
    {"key": "w", "type": "WAIT_FOR_EVENT", "event": "buy", "timeoutSeconds": 86400,
     "next": "thanks", "onTimeout": None},
    send("thanks"),
]  # fmt: skip
MOVED = 10_000  # customers released, and customers converted
CALL = 1_000  # events per trackEvents call


async def paused_journey(client: Any, name: str, nodes: list[dict[str, Any]], **more: Any) -> str:
    """A journey of these nodes, live and PAUSED: it admits and holds its customers."""
    input = {"name": name, "kind": "EVENT_TRIGGERED", "triggerEvent": name, "nodes": nodes, **more}
    journey_id: str = (await graphql(client, CREATE, {"input": input}))["createJourney"]["id"]
    await graphql(client, ACTIVATE, {"id": journey_id})
    await graphql(client, PAUSE, {"id": journey_id})
    return journey_id


def counter(setup: Setup, journey_id: str, name: str) -> int:
    return int(
        sql_value(setup, f"SELECT {name} FROM journey_stats WHERE journey_id = %s", journey_id)
    )


async def resume(url: str, setup: Setup, journey_id: str) -> None:
    # A connection of its own: the last one may have idled past the server's keep-alive.
    async with open_client("raw", url, setup.headers, timeout=600) as client:
        await graphql(client, RESUME, {"id": journey_id})


async def walk(
    url: str, setup: Setup, processes: Processes, journey_id: str, customers: int, timeout: float
) -> float:
    """RESUME the journey and wait until every customer completed; the seconds it took."""
    await resume(url, setup, journey_id)
    started = time.perf_counter()
    while counter(setup, journey_id, "completed") < customers:
        processes.check_alive()
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"not everyone completed journey {journey_id} in {timeout} s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


def node_applications(setup: Setup, journey_id: str) -> int:
    """Every node each customer reached (each one applied to them once)."""
    query = "SELECT sum(reached) FROM node_counters WHERE journey_id = %s AND branch = ''"
    return int(sql_value(setup, query, journey_id))


def plans(n: int) -> dict[str, Any]:
    """Half the customers (`c1`, `c3`, ...) on the vip plan, the other half free."""
    return {"plan": "vip" if n % 2 else "free"}


async def import_profiles(
    url: str, headers: dict[str, str], customers: int, attributes: Callable[[int], Any] = plans
) -> None:
    """Profiles `c0`, `c1`, ... with `attributes(n)`, through `POST /customers`."""
    lines = (
        json.dumps({"id": f"c{n}", "attributes": attributes(n)}) + "\n" for n in range(customers)
    )

    async def body() -> Any:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) == 10_000:
                yield "".join(batch).encode()
                batch = []
        if batch:
            yield "".join(batch).encode()

    async with httpx.AsyncClient(timeout=3600, trust_env=False) as http:
        answer = await http.post(
            f"{url}/customers",
            content=body(),
            headers={**headers, "Content-Type": "application/x-ndjson"},
        )
    if answer.status_code != 200:
        raise RuntimeError(f"POST /customers: HTTP {answer.status_code} {answer.text[:300]}")


async def events_for(client: Any, name: str, customers: range) -> list[tuple[float, float]]:
    """`trackEvents` of `name` for these customers, CALL at a time: (wall-clock time the
    call began, seconds it took) for each customer."""
    timed = []
    for start in range(customers.start, customers.stop, CALL):
        batch = range(start, min(customers.stop, start + CALL))
        events = [{"name": name, "customerId": f"c{n}"} for n in batch]
        began, asked = time.time(), time.perf_counter()
        await graphql(client, TRACK_MANY, {"events": events})
        took = time.perf_counter() - asked
        timed += [(began, took)] * len(batch)
    return timed


def release_latencies(
    setup: Setup, journey_id: str, asked: list[tuple[float, float]]
) -> list[float]:
    """For each released customer, from its call's start until the SEND after the wait
    queued its message (the delivery's creation, the database's clock on this machine)."""
    deadline = time.perf_counter() + 60
    while counter(setup, journey_id, "delivered") < len(asked):
        if time.perf_counter() > deadline:
            raise RuntimeError("the released customers' messages were not all sent in 60 s")
        time.sleep(0.05)
    query = (
        "SELECT customer_id, extract(epoch FROM created_at) FROM deliveries "
        "WHERE journey_id = %s AND node_key = 'thanks'"
    )
    import psycopg

    with psycopg.connect(setup.database.url) as connection:
        created: dict[str, Any] = dict(connection.execute(query, (journey_id,)).fetchall())
    return [float(created[f"c{n}"]) - began for n, (began, _) in enumerate(asked)]


async def benchmark(args: argparse.Namespace, workdir: Path, processes: Processes) -> str:
    busy_before = await wait_for_quiet(args.wait_quiet)
    setup = prepare(args, workdir, processes)
    if setup.database.is_sqlite:
        raise SystemExit("bench/flow.py measures the distributed mode: give --database-url")
    redis_url, _ = start_redis(processes, workdir)
    setup.env = {**setup.env, "REDIS_URL": redis_url, "JOURNEYS_QUEUE_NAME": "bench:flow"}
    api = await start_project(setup, "api")
    n, waiting = args.customers, args.waiting
    lines = [
        *facts(setup, busy_before, f"{n} customers, {waiting} waiting, {args.workers} workers")
    ]
    async with open_client("raw", api.url, setup.headers, timeout=600) as client:
        await import_profiles(api.url, setup.headers, max(n, waiting))
        line = await paused_journey(client, "line", LINE)
        branching = await paused_journey(client, "flow", BRANCHING)
        held = await paused_journey(client, "waiting", WAITING, goalEvent="quit")
        for journey_id, customers in ((line, n), (branching, n), (held, waiting)):
            await enroll(client, journey_id, customers)
    logs = [workdir / f"worker-{k}.log" for k in range(args.workers)]
    for k, worker_log in enumerate(logs):
        processes.start(f"worker-{k}", [str(JOURNEYS_CLI), "worker"], setup.env, worker_log)
    await processors_running(processes, logs)

    line_seconds = await walk(api.url, setup, processes, line, n, args.timeout)
    flow_seconds = await walk(api.url, setup, processes, branching, n, args.timeout)
    applications = node_applications(setup, branching)
    # Everyone of the third journey waits at its WAIT_FOR_EVENT before any event.
    await resume(api.url, setup, held)
    deadline = time.perf_counter() + args.timeout
    at = "SELECT at FROM node_counters WHERE journey_id = %s AND node_key = 'w' AND branch = ''"
    while (sql_value(setup, at, held) or 0) < waiting:
        processes.check_alive()
        if time.perf_counter() > deadline:
            raise RuntimeError("the waiting journey's customers did not all reach the wait")
        await asyncio.sleep(0.05)
    async with open_client("raw", api.url, setup.headers, timeout=600) as client:
        released = await events_for(client, "buy", range(0, MOVED))
        converted = await events_for(client, "quit", range(MOVED, 2 * MOVED))
    release = release_latencies(setup, held, released)
    if counter(setup, held, "converted") != MOVED:
        raise RuntimeError(f"the goal converted {counter(setup, held, 'converted')}, not {MOVED}")
    close_connections()

    async with open_client("raw", api.url, setup.headers, timeout=120) as client:
        asked = time.perf_counter()
        aborted = (await graphql(client, ABORT, {"id": held}))["abortJourney"]
        abort_ms = (time.perf_counter() - asked) * 1000
    inside = waiting - 2 * MOVED
    if aborted["stats"]["exited"] != inside:
        raise RuntimeError(f"the abort's stats say {aborted['stats']}, not {inside} exited")

    memory = {"api": peak_rss_mb(api.pid)}
    memory |= {f"worker-{k}": peak_rss_mb(pid) for k, pid in enumerate(processes.pids("worker"))}
    line_rate, flow_rate = n / line_seconds, applications / flow_seconds

    def p(values: list[float], share: float) -> str:
        return fmt(percentile(values, share) * 1000, ".0f")

    goal_calls = [took for _, took in converted]
    rows = [
        [f"line: {n:,} through one SEND", f"{line_rate:,.0f} steps/s ({line_seconds:.1f} s)",
         "-", "-"],
        [f"flow: {n:,} through SPLIT, CONDITION, WAIT_FOR_EVENT, SEND",
         f"{flow_rate:,.0f} node applications/s ({applications:,} in {flow_seconds:.1f} s)",
         f"{line_rate:,.0f} steps/s (line)", f">= 0.75x: {flow_rate / line_rate:.2f}x"],
        [f"release: {MOVED:,} of {waiting:,} waiting", f"p50 {p(release, 0.5)} ms, "
         f"p99 {p(release, 0.99)} ms", "-", "p99 < 1,000 ms"],
        [f"goal exit: {MOVED:,}", f"p50 {p(goal_calls, 0.5)} ms, p99 {p(goal_calls, 0.99)} ms",
         "-", "p99 < 1,000 ms"],
        [f"abort with {inside:,} inside", f"{abort_ms:.0f} ms", "-", "< 200 ms"],
        ["peak RSS", ", ".join(f"{k} {fmt(v, '.0f')} MB" for k, v in memory.items()), "-",
         "< 300 MB each"],
    ]  # fmt: skip
    lines += ["", table(["phase", "project", "compared with", "goal"], rows)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_options(parser, "journeys_flow")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--waiting", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.waiting < 2 * MOVED + 1:
        parser.error(f"--waiting must be above {2 * MOVED}")
    if ENROLL_BATCH % CALL:
        parser.error("enrolment and event batches do not line up")
    return run_benchmark(
        lambda workdir, processes: benchmark(args, workdir, processes), keep=args.keep, name="flow"
    )


if __name__ == "__main__":
    sys.exit(main())
