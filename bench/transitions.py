"""Status transitions per second: the GraphQL API against a bare Starlette peer, same run.

What is compared
----------------
* **graphql**: the real server (`journeys serve`, a subprocess) taking `pauseJourney` /
  `resumeJourney` mutations over HTTP. Each request goes through uvicorn, Starlette,
  Strawberry (parse/validate caches, execution), token authentication, the service's unit of
  work (journey + latest version + labels loaded, the aggregate saved, the event appended
  through the ORM), and the after-commit hand-off to the bus and scheduler.
* **bare**: `bench/bare_peer.py`, a subprocess serving one Starlette route with uvicorn under the
  same settings, doing the least database work a transition needs on the project's own engine
  (`store.database.Database`): token lookup, read the journey row, update it, bump
  `workspaces.last_sequence` with `UPDATE ... RETURNING`, insert a `status_events` row, commit.

Both share the database (a fresh SQLite file in a temporary directory, or a dedicated
PostgreSQL database that is dropped and recreated each run) and are driven by the same load
generator in this process: `--workers` concurrent tasks on one keep-alive `httpx.AsyncClient`
for `--duration` seconds (after `--warmup` seconds not counted), each task owning its own
journeys and alternating PAUSED / ACTIVE on them, so no two requests ever race for one
journey. Every response is checked; failures are counted, not timed.

Why: DESIGN.md section 8 asks every benchmark to print the peer beside the project's figure,
from the same run. The peer is the ceiling for this machine and database; the ratio
graphql/bare says how much of it the API layers keep. Goal: ratio >= 0.5.

The script also prints each server's CPU time per transition (from /proc) and how busy the
whole machine was, because on a small machine the load generator competes for the same cores.

Run from the repository root:
    .venv/bin/python bench/transitions.py
    .venv/bin/python bench/transitions.py --database-url postgresql://127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from harness import (
    REPO,
    Processes,
    add_run_options,
    free_port,
    loop_name,
    machine_line,
    machine_ticks,
    process_cpu_seconds,
    run_benchmark,
)
from sqlalchemy.engine import make_url

JOURNEYS_CLI = Path(sys.executable).with_name("journeys")
BARE_PEER = Path(__file__).resolve().with_name("bare_peer.py")
GOAL_RATIO = 0.5

CREATE = """
mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id status } }
"""
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { id status revision } }"
PAUSE = "mutation($id: ID!) { pauseJourney(id: $id) { id status revision } }"
RESUME = "mutation($id: ID!) { resumeJourney(id: $id) { id status revision } }"

# Sends one transition of one journey to the given status; raises TransitionFailed if refused.
Send = Callable[[httpx.AsyncClient, str, str], Awaitable[None]]


class TransitionFailed(Exception):
    """A response that was not the expected transition."""


@dataclass
class JourneyState:
    id: str
    status: str = "ACTIVE"


@dataclass
class PhaseResult:
    path: str
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cpu: float | None = 0.0  # seconds of the server process (all its threads)
    machine_ticks: tuple[int, int] | None = (0, 0)  # (busy, total) jiffies, all cores

    def add(self, other: PhaseResult) -> None:
        """Fold in another round of the same path."""
        self.elapsed += other.elapsed
        self.latencies += other.latencies
        self.errors += other.errors
        if self.server_cpu is None or other.server_cpu is None:
            self.server_cpu = None
        else:
            self.server_cpu += other.server_cpu
        if self.machine_ticks is None or other.machine_ticks is None:
            self.machine_ticks = None
        else:
            busy, total = self.machine_ticks
            self.machine_ticks = (busy + other.machine_ticks[0], total + other.machine_ticks[1])

    @property
    def machine_busy(self) -> float | None:
        """Share of all cores that were busy (this run and anything else), 0..1."""
        if self.machine_ticks is None or self.machine_ticks[1] == 0:
            return None
        return self.machine_ticks[0] / self.machine_ticks[1]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    @property
    def server_cpu_ms_per_transition(self) -> float | None:
        if self.server_cpu is None or not self.latencies:
            return None
        return self.server_cpu * 1000 / len(self.latencies)


# -- processes and the database ------------------------------------------------


def prepare_database(requested: str | None, pg_database: str, workdir: Path) -> tuple[str, str]:
    """A fresh, empty database URL and a description of it."""
    if requested is None or make_url(requested).get_backend_name() == "sqlite":
        path = workdir / "bench.db"
        return f"sqlite:///{path}", f"sqlite {sqlite3.sqlite_version} (file, WAL) at {path}"
    url = make_url(requested)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be sqlite:///... or postgresql://...")
    import psycopg

    # Connect to the given database only to drop and recreate the dedicated one.
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        version = connection.execute("SHOW server_version").fetchone()
        connection.execute(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{pg_database}"')
    fresh = url.set(drivername="postgresql", database=pg_database)
    described = f"postgresql {version[0] if version else '?'} (database {pg_database!r})"
    return fresh.render_as_string(hide_password=False), described


def run_cli(arguments: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(JOURNEYS_CLI), *arguments], env=env, cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"journeys {' '.join(arguments)} failed:\n{done.stderr}")
    return done.stdout


async def wait_healthy(base_url: str, processes: Processes, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            processes.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base_url}/healthz did not answer within {timeout:.0f} s")


# -- CPU accounting (Linux /proc; None elsewhere) ---------------------------------


async def machine_busy_over(seconds: float) -> float | None:
    """How busy all cores are right now, sampled over `seconds`."""
    before = machine_ticks()
    await asyncio.sleep(seconds)
    after = machine_ticks()
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


# -- the two paths -------------------------------------------------------------------


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    if response.status_code != 200:
        raise TransitionFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    payload = response.json()
    if payload.get("errors"):
        raise TransitionFailed(str(payload["errors"])[:300])
    return payload["data"]


async def send_graphql(client: httpx.AsyncClient, journey_id: str, target: str) -> None:
    field_name, query = ("pauseJourney", PAUSE) if target == "PAUSED" else ("resumeJourney", RESUME)
    data = await graphql(client, query, {"id": journey_id})
    if data[field_name]["status"] != target:
        raise TransitionFailed(f"{field_name} gave {data[field_name]['status']}, not {target}")


async def send_bare(client: httpx.AsyncClient, journey_id: str, target: str) -> None:
    response = await client.post("/transition", json={"id": journey_id, "status": target})
    if response.status_code != 200:
        raise TransitionFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    if response.json()["status"] != target:
        raise TransitionFailed(f"transition gave {response.json()['status']}, not {target}")


async def create_active_journeys(
    client: httpx.AsyncClient, count: int, prefix: str
) -> list[JourneyState]:
    journeys = []
    for number in range(count):
        content = {
            "name": f"{prefix}-{number}",
            "kind": "EVENT_TRIGGERED",
            "triggerEvent": "signup",
            "steps": [{"type": "SEND", "channel": "log", "template": "t"}],
        }
        created = await graphql(client, CREATE, {"input": content})
        journey_id = created["createJourney"]["id"]
        activated = await graphql(client, ACTIVATE, {"id": journey_id})
        if activated["activateJourney"]["status"] != "ACTIVE":
            raise RuntimeError(f"journey {journey_id} is {activated['activateJourney']['status']}")
        journeys.append(JourneyState(journey_id))
    return journeys


# -- the load generator -----------------------------------------------------------------


def share_out(journeys: list[JourneyState], workers: int) -> list[list[JourneyState]]:
    if len(journeys) < workers:
        raise SystemExit(f"--journeys ({len(journeys)}) must be at least --workers ({workers})")
    return [journeys[start::workers] for start in range(workers)]


async def worker(
    client: httpx.AsyncClient,
    send: Send,
    owned: list[JourneyState],
    deadline: float,
    result: PhaseResult,
) -> None:
    turn = 0
    while time.perf_counter() < deadline:
        journey = owned[turn % len(owned)]
        turn += 1
        target = "PAUSED" if journey.status == "ACTIVE" else "ACTIVE"
        started = time.perf_counter()
        try:
            await send(client, journey.id, target)
        except (TransitionFailed, httpx.HTTPError, KeyError, ValueError) as error:
            result.errors.append(f"{type(error).__name__}: {error}")
            continue  # the same move again next turn: a refused request changes nothing
        result.latencies.append(time.perf_counter() - started)
        journey.status = target


async def drive(
    path: str,
    base_url: str,
    headers: dict[str, str],
    send: Send,
    journeys: list[JourneyState],
    workers: int,
    duration: float,
    server_pid: int,
    py_spy: Path | None = None,
) -> PhaseResult:
    """`workers` tasks alternating PAUSED/ACTIVE on their own journeys for `duration` s.

    With `py_spy`, the server is sampled meanwhile (only threads holding the GIL, i.e. Python
    CPU time) into `<py_spy>/<path>.txt`, collapsed stacks as flamegraph tools read them.
    """
    profiler = start_py_spy(py_spy, path, server_pid, duration) if py_spy else None
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30.0
    ) as client:
        result = PhaseResult(path)
        cpu_before, ticks_before = process_cpu_seconds(server_pid), machine_ticks()
        started = time.perf_counter()
        deadline = started + duration
        async with asyncio.TaskGroup() as group:
            for owned in share_out(journeys, workers):
                group.create_task(worker(client, send, owned, deadline, result))
        result.elapsed = time.perf_counter() - started
        cpu_after, ticks_after = process_cpu_seconds(server_pid), machine_ticks()
    if profiler is not None:
        await asyncio.to_thread(profiler.wait)
    result.server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    result.machine_ticks = (
        None
        if ticks_before is None or ticks_after is None
        else (ticks_after[0] - ticks_before[0], ticks_after[1] - ticks_before[1])
    )
    return result


def start_py_spy(directory: Path, path: str, pid: int, duration: float) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        py_spy, "record", "--pid", str(pid), "--gil", "--nonblocking", "--format", "raw",
        "--duration", str(max(1, int(duration))), "--output", str(directory / f"{path}.txt"),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- report -----------------------------------------------------------------------------


def machine_facts(database: str) -> list[str]:
    return [
        machine_line(),
        f"python: {platform.python_implementation()} {platform.python_version()}, "
        f"load generator on {loop_name()}, httpx {httpx.__version__}",
        f"database: {database}",
    ]


def report(results: list[PhaseResult], settings: str, facts: list[str]) -> str:
    lines = [*facts, settings, ""]
    header = (
        f"{'path':<8} {'transitions/s':>14} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'ok':>7} {'server CPU ms/tr':>17} {'machine busy':>13}"
    )
    lines.append(header)
    for result in results:
        cpu = result.server_cpu_ms_per_transition
        busy = result.machine_busy
        lines.append(
            f"{result.path:<8} {result.throughput:>14.1f} {result.percentile_ms(0.50):>8.2f} "
            f"{result.percentile_ms(0.99):>8.2f} {len(result.errors):>7} "
            f"{len(result.latencies):>7} {'n/a' if cpu is None else f'{cpu:.2f}':>17} "
            f"{'n/a' if busy is None else f'{busy:.0%}':>13}"
        )
    by_path = {result.path: result for result in results}
    bare = by_path["bare"].throughput
    ratio = by_path["graphql"].throughput / bare if bare else float("nan")
    graphql_cpu = by_path["graphql"].server_cpu_ms_per_transition
    bare_cpu = by_path["bare"].server_cpu_ms_per_transition
    lines += [
        "",
        f"ratio graphql/bare throughput: {ratio:.2f}",
        f"goal: ratio >= {GOAL_RATIO}  ({'met' if ratio >= GOAL_RATIO else 'NOT met'})",
    ]
    if graphql_cpu and bare_cpu:
        # Less sensitive to other load on the machine than the throughput ratio.
        lines.append(f"server CPU per transition, bare/graphql: {bare_cpu / graphql_cpu:.2f}")
    for result in results:
        for sample in sorted(set(result.errors))[:3]:
            lines.append(f"{result.path} error sample: {sample}")
    return "\n".join(lines)


# -- the run -----------------------------------------------------------------------------


async def wait_for_quiet(limit: float, threshold: float = 0.1) -> float | None:
    """Machine busy share over 1 s, sampled again (for up to `limit` s) until below threshold."""
    started = time.monotonic()
    said = -10.0
    busy = await machine_busy_over(1.0)
    while busy is not None and busy >= threshold and time.monotonic() - started < limit:
        if time.monotonic() - said >= 10:
            print(f"waiting for a quiet machine: {busy:.0%} busy", file=sys.stderr)
            said = time.monotonic()
        busy = await machine_busy_over(1.0)
    return busy


async def benchmark(args: argparse.Namespace, workdir: Path, processes: Processes) -> str:
    # SIGTERM cancels the run like Ctrl-C does, so the servers are stopped either way.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    busy_before = await wait_for_quiet(args.wait_quiet)
    database_url, database = prepare_database(args.database_url, args.pg_database, workdir)
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    run_cli(["migrate"], env)
    token = run_cli(["token", "create", "--workspace", "bench", "--role", "editor"], env)
    headers = {"Authorization": f"Bearer {token.strip().splitlines()[-1]}"}

    graphql_port, bare_port = free_port(), free_port()
    graphql_pid = processes.start(
        "journeys serve",
        [str(JOURNEYS_CLI), "serve", "--host", "127.0.0.1", "--port", str(graphql_port)],
        env,
        workdir / "graphql-server.log",
    )
    bare_pid = processes.start(
        "bare peer",
        [sys.executable, str(BARE_PEER), "--host", "127.0.0.1", "--port", str(bare_port)],
        env,
        workdir / "bare-peer.log",
    )
    graphql_url, bare_url = f"http://127.0.0.1:{graphql_port}", f"http://127.0.0.1:{bare_port}"
    await wait_healthy(graphql_url, processes)
    await wait_healthy(bare_url, processes)

    async with httpx.AsyncClient(base_url=graphql_url, headers=headers, timeout=30.0) as client:
        graphql_journeys = await create_active_journeys(client, args.journeys, "graphql")
        bare_journeys = await create_active_journeys(client, args.journeys, "bare")

    paths: list[tuple[str, str, Send, list[JourneyState], int]] = [
        ("graphql", graphql_url, send_graphql, graphql_journeys, graphql_pid),
        ("bare", bare_url, send_bare, bare_journeys, bare_pid),
    ]
    totals = {path: PhaseResult(path) for path, *_ in paths}
    for round_number in range(1, args.rounds + 1):
        for path, base_url, send, journeys, pid in paths:
            if args.warmup > 0:
                await drive(path, base_url, headers, send, journeys, args.workers, args.warmup, pid)
            spy = None if args.py_spy is None else args.py_spy / f"round{round_number}"
            measured = await drive(
                path, base_url, headers, send, journeys, args.workers, args.duration, pid, spy
            )
            totals[path].add(measured)
            processes.check_alive()

    settings = (
        f"load: {args.workers} workers, {args.journeys} journeys per path, "
        f"{args.rounds} x {args.duration:g} s measured per path (each after {args.warmup:g} s "
        "warm-up, paths interleaved), one server process each"
    )
    facts = machine_facts(database)
    if busy_before is not None:
        quiet = "" if busy_before < 0.1 else "  WARNING: something else is using the CPU"
        facts.append(f"machine busy before start: {busy_before:.0%}{quiet}")
    return report(list(totals.values()), settings, facts)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://host:port/db to use PostgreSQL (db is only used to create the "
        "bench database); default: a SQLite file in a temporary directory",
    )
    parser.add_argument(
        "--pg-database",
        default="journeys_bench",
        help="PostgreSQL database to drop and recreate for the run",
    )
    parser.add_argument("--journeys", type=int, default=32, help="journeys per path")
    parser.add_argument("--workers", type=int, default=16, help="concurrent requests")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per path")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per path, not counted")
    parser.add_argument(
        "--rounds", type=int, default=1, help="graphql/bare alternations, summed in the report"
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample each server with py-spy during its measured phases into DIR",
    )
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    return run_benchmark(
        lambda workdir, processes: benchmark(args, workdir, processes), keep=args.keep, name="bench"
    )


if __name__ == "__main__":
    sys.exit(main())
