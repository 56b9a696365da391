"""Fan-out: one status change to N live subscribers of one API process, against a bare broadcast.

What is measured
----------------
* **project**: the real app (`gql.app.create_app`, embedded mode, as `journeys serve` builds it)
  served by uvicorn in a subprocess. N WebSocket clients (`graphql-transport-ws`, token in
  `connection_init`) all subscribe with the same document,
  `subscription { statusChanged { sequence journeyId status previousStatus action at } }`.
  Once the server's `/metrics` says `journeys_subscribers N` (so every subscription is live),
  one `pauseJourney` / `resumeJourney` mutation is sent over HTTP, and each client notes when
  its `next` frame arrived.
* **bare**: the limit. `peer_broadcast.py`, a Starlette app served by uvicorn in a subprocess
  with the same uvicorn options, importing nothing of the project. It answers
  `connection_init` with `connection_ack`, keeps every socket that sent `subscribe` in a set,
  and `POST /broadcast` sends every socket the same pre-serialized text with `await
  ws.send_text(frame)` in a loop. The frame is the project's real `next` frame, captured by a
  client in the project phase. No GraphQL, no database, no
  work per subscriber beyond the send itself.

Latency is the client's `time.time()` when the frame arrives minus `t0`, the driver's
`time.time()` taken just before it sends the HTTP request that causes the change. Everything
runs on one machine, so all processes share the wall clock. Because `t0` comes before the
request, the figure includes the mutation's own handling (authentication, transaction,
commit): it is an upper bound on commit -> receipt.

Processes: this driver; one server at a time (a fresh process for each path and each N, so
the memory figures start from the same baseline, on a fresh port so TIME_WAIT sockets of the
previous phase never collide); one clients process per phase (`ws_clients.py`, one asyncio
loop holding all N connections on websockets' sans-I/O protocol, each frame stamped in
`data_received`). Memory per connection is the server's VmRSS after all N
subscribed minus VmRSS before the first connection, divided by N. Both servers log their
cyclic-GC passes of 20 ms or more (`ws_server.py`), so the report can show how much of a round was a
collection rather than the fan-out.

Goal: 10,000 subscribers p99 under 500 ms and within 2x of the bare broadcast; 1,000
subscribers p99 under 100 ms.

Run from the repository root:
    .venv/bin/python bench/fanout.py                        # 1,000 then 10,000 subscribers
    .venv/bin/python bench/fanout.py --subscribers 1000     # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import re
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from harness import (
    BENCH,
    GraphQLApi,
    Processes,
    add_run_options,
    code_fingerprint,
    fmt,
    free_port,
    journey_input,
    loop_name,
    machine_line,
    machine_ticks,
    note,
    prepare,
    process_cpu_seconds,
    raise_fd_limit,
    run_benchmark,
    scan_log,
    vm_rss_kib,
    wait_for_quiet,
    wait_healthy,
)
from ws_clients import ClientsProcess
from ws_server import gc_passes

T = TypeVar("T")

SUBSCRIBERS_METRIC = re.compile(r"^journeys_subscribers (\d+)$", re.MULTILINE)
# Reported by a server that shares one execution among subscribers of the same document.
SHARED_METRIC = re.compile(r"^journeys_shared_subscriptions (\d+)$", re.MULTILINE)

# N -> (p99 must be under this many ms, project p99 / bare p99 must be at most this or None)
GOALS: dict[int, tuple[float, float | None]] = {1_000: (100.0, None), 10_000: (500.0, 2.0)}


# -- the driver -------------------------------------------------------------------------


@dataclass
class Round:
    number: int
    change: str
    t0: float
    last: float  # the last receipt (or t0 if none came)
    latencies: list[float]  # seconds, one per subscriber that got the frame
    missing: int
    extra: int
    bad: int
    http_seconds: float
    server_cpu: float | None
    clients_cpu: float | None
    machine_busy: float | None
    gc_ms: float = 0.0  # the server's long GC passes (ws_server) that ended inside the round


@dataclass
class Phase:
    path: str  # "project" or "bare"
    subscribers: int
    rounds: list[Round] = field(default_factory=list)
    subscribe_seconds: float | None = None
    rss_before: int | None = None  # KiB
    rss_subscribed: int | None = None
    rss_after_rounds: int | None = None
    executions: int | None = None  # journeys_shared_subscriptions, where the server has it
    extensions: str = ""
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    log_errors: int = 0
    log_samples: list[str] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [latency for one in self.rounds for latency in one.latencies]

    def percentile_ms(self, share: float, latencies: list[float] | None = None) -> float:
        ordered = sorted(self.latencies if latencies is None else latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    @property
    def missing(self) -> int:
        return sum(one.missing for one in self.rounds)

    @property
    def kib_per_connection(self) -> float | None:
        if self.rss_before is None or self.rss_subscribed is None:
            return None
        return (self.rss_subscribed - self.rss_before) / self.subscribers


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    processes: Processes
    env: dict[str, str]
    token: str
    options: dict[str, Any]  # the project server's uvicorn options
    journey_id: str | None = None
    journey_status: str = "ACTIVE"
    frame: str | None = None  # the project's real `next` frame, replayed by the bare server


async def change_status(run: Run, client: httpx.AsyncClient) -> str:
    """The next change of the ACTIVE or PAUSED journey: pause or resume it."""
    assert run.journey_id is not None
    action, target = ("pause", "PAUSED") if run.journey_status == "ACTIVE" else ("resume", "ACTIVE")
    answer = await GraphQLApi().transition(client, run.journey_id, action)
    if answer["status"] != target:
        raise RuntimeError(f"{action}Journey gave {answer['status']}, not {target}")
    run.journey_status = target
    return target


async def ensure_journey(run: Run, client: httpx.AsyncClient) -> None:
    if run.journey_id is not None:
        return
    api = GraphQLApi()
    journey_id = str((await api.create(client, journey_input("fan-out")))["id"])
    status = (await api.transition(client, journey_id, "activate"))["status"]
    if status != "ACTIVE":
        raise RuntimeError(f"the journey is {status} after activation, not ACTIVE")
    run.journey_id, run.journey_status = journey_id, status


async def read_metric(metrics: httpx.AsyncClient, pattern: re.Pattern[str]) -> int | None:
    with contextlib.suppress(httpx.HTTPError):
        found = pattern.search((await metrics.get("/metrics")).text)
        return int(found.group(1)) if found else None
    return None


async def subscriber_count(metrics: httpx.AsyncClient) -> int | None:
    return await read_metric(metrics, SUBSCRIBERS_METRIC)


async def subscribe_all(
    run: Run, phase: Phase, clients: ClientsProcess, base_url: str, metrics: httpx.AsyncClient
) -> None:
    """Open N connections; return once the server counts N live subscriptions."""
    count, timeout = phase.subscribers, run.args.timeout
    started = time.monotonic()
    connect = asyncio.create_task(
        clients.ask(
            {
                "cmd": "connect",
                "url": base_url.replace("http://", "ws://") + "/graphql",
                "token": run.token,
                "count": count,
                "concurrency": run.args.connect_concurrency,
                "compression": run.args.compression == "deflate",
                "timeout": timeout,
            },
            timeout + 60,
        )
    )
    try:
        while not connect.done():
            await asyncio.wait({connect}, timeout=5)
            if not connect.done():
                live = await subscriber_count(metrics)
                note(f"  {phase.path} N={count}: {live} of {count} subscribed so far")
                run.processes.check_alive()
    finally:
        connect.cancel()
    opened = connect.result()
    phase.extensions = opened["extensions"]
    if opened["failed"]:
        raise RuntimeError(
            f"{opened['failed']} of {count} connections failed: {opened['failure_samples']}"
        )
    live = None
    while time.monotonic() - started < timeout:
        live = await subscriber_count(metrics)
        if live == count:
            phase.subscribe_seconds = time.monotonic() - started
            return
        run.processes.check_alive()
        await asyncio.sleep(0.2)
    raise RuntimeError(
        f"the server counted {live} of {count} subscribers after {timeout:.0f} s (--timeout)"
    )


async def measure_round(
    run: Run,
    phase: Phase,
    number: int,
    clients: ClientsProcess,
    send: Callable[[], Awaitable[str | None]],
    server_pid: int,
) -> dict[str, Any]:
    cpu_before, ticks_before = process_cpu_seconds(server_pid), machine_ticks()
    t0 = time.time()
    expect_status = await send()
    http_seconds = time.time() - t0
    reply = await clients.ask(
        {"cmd": "collect", "expect_status": expect_status, "timeout": run.args.timeout},
        run.args.timeout + 60,
    )
    cpu_after, ticks_after = process_cpu_seconds(server_pid), machine_ticks()
    times: list[float | None] = reply["times"]
    busy = None
    if ticks_before and ticks_after and ticks_after[1] > ticks_before[1]:
        busy = (ticks_after[0] - ticks_before[0]) / (ticks_after[1] - ticks_before[1])
    clients_before, clients.cpu = clients.cpu, reply["cpu"]
    phase.rounds.append(
        Round(
            number=number,
            change=expect_status or "broadcast",
            t0=t0,
            last=max((stamp for stamp in times if stamp is not None), default=t0),
            latencies=[stamp - t0 for stamp in times if stamp is not None],
            missing=sum(1 for stamp in times if stamp is None),
            extra=reply["extra"],
            bad=reply["bad"],
            http_seconds=http_seconds,
            server_cpu=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
            clients_cpu=None
            if clients_before is None or reply["cpu"] is None
            else reply["cpu"] - clients_before,
            machine_busy=busy,
        )
    )
    phase.problems += reply["bad_samples"]
    if reply["closed_by_server"]:
        phase.problems.append(f"closed by the server (code: count): {reply['closed_by_server']}")
    return reply


async def run_phase(run: Run, path: str, count: int) -> Phase:
    phase = Phase(path, count)
    args = run.args
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = run.workdir / f"{path}-{count}.log"
    common = ["--port", str(port), "--ws-ping", str(args.ws_ping),
              "--uvicorn-options", json.dumps(run.options)]  # fmt: skip
    if path == "project":
        command = [sys.executable, str(BENCH / "ws_project.py"), *common]
    else:
        frame_file = run.workdir / "frame.txt"
        frame_file.write_text(run.frame or synthetic_frame())
        peer = str(BENCH / "peer_broadcast.py")
        command = [sys.executable, peer, *common, "--frame-file", str(frame_file)]
    name = f"{path} server N={count}"
    note(f"{name}: starting")
    server_pid = run.processes.start(name, command, run.env, log)
    headers = {"Authorization": f"Bearer {run.token}"}
    try:
        async with (
            httpx.AsyncClient(
                base_url=base_url, headers=headers, timeout=args.timeout, trust_env=False
            ) as client,
            httpx.AsyncClient(base_url=base_url, timeout=10.0, trust_env=False) as metrics,
        ):
            await wait_healthy(base_url, run.processes)

            async def send_project() -> str | None:
                return await change_status(run, client)

            async def send_bare() -> str | None:
                response = await client.post("/broadcast")
                response.raise_for_status()
                return None

            send = send_project if path == "project" else send_bare
            if path == "project":
                await ensure_journey(run, client)
            # Warm-up with no subscribers: first-request costs (imports, compiled
            # statements, the keep-alive connection t0 will use) are not in round 1.
            for _ in range(2):
                await send()
            await asyncio.sleep(1.0)
            phase.rss_before = vm_rss_kib(server_pid)
            clients = await ClientsProcess.start(run.workdir / f"clients-{path}-{count}.log")
            try:
                note(f"{name}: connecting {count} subscribers")
                await subscribe_all(run, phase, clients, base_url, metrics)
                note(f"{name}: {count} subscribed in {phase.subscribe_seconds:.1f} s")
                await asyncio.sleep(1.0)  # let the last subscriptions settle before reading RSS
                phase.rss_subscribed = vm_rss_kib(server_pid)
                if path == "project":
                    phase.executions = await read_metric(metrics, SHARED_METRIC)
                baseline = await clients.ask({"cmd": "collect", "timeout": 0}, 60)
                clients.cpu = baseline["cpu"]
                for number in range(1, args.rounds + 1):
                    await asyncio.sleep(args.gap)
                    reply = await measure_round(run, phase, number, clients, send, server_pid)
                    done = phase.rounds[-1]
                    p99 = phase.percentile_ms(0.99, done.latencies)
                    note(f"{name}: round {number}: p99 {p99:.1f} ms, missing {done.missing}")
                    if path == "project" and run.frame is None and reply["first_frame"]:
                        run.frame = reply["first_frame"]
                    run.processes.check_alive()
                phase.rss_after_rounds = vm_rss_kib(server_pid)
                closed = await clients.ask({"cmd": "close", "timeout": 60}, 120)
                if closed["aborted"]:
                    phase.problems.append(f"{closed['aborted']} connections aborted on close")
            except BaseException:
                clients.kill()
                raise
            finally:
                await clients.stop()
                errors, samples = scan_log(clients.log)
                phase.problems += [
                    f"clients log ({errors} error lines): {line}" for line in samples
                ]
    except (RuntimeError, httpx.HTTPError, OSError, KeyError, ValueError) as error:
        phase.error = f"{type(error).__name__}: {error}"
        note(f"{name}: FAILED: {phase.error}")
    finally:
        run.processes.stop(name)
        phase.log_errors, phase.log_samples = scan_log(log)
        attribute_gc(phase, log)
    return phase


def attribute_gc(phase: Phase, log: Path) -> None:
    passes = gc_passes(log)
    for one in phase.rounds:
        one.gc_ms = sum(ms for end, ms in passes if one.t0 <= end <= one.last)


def synthetic_frame() -> str:
    """A frame shaped like the project's, for a bare phase whose project phase captured none."""
    event = {
        "sequence": 123,
        "journeyId": "00000000-0000-0000-0000-000000000000",
        "status": "PAUSED",
        "previousStatus": "ACTIVE",
        "action": "PAUSE",
        "at": "2026-01-01T00:00:00.000000Z",
    }
    frame = {"id": "1", "type": "next", "payload": {"data": {"statusChanged": event}}}
    return json.dumps(frame, separators=(",", ":"))  # compact, as Strawberry sends it


# -- report -----------------------------------------------------------------------------


def triple(phase: Phase | None) -> str:
    """p50/p99/max in whole ms."""
    if phase is None or not phase.latencies:
        return "failed"
    return "/".join(fmt(phase.percentile_ms(share), ".0f") for share in (0.5, 0.99, 1.0))


def goal_verdict(project: Phase, bare: Phase | None) -> tuple[str, str]:
    """(the goal for this N, whether this run met it)."""
    goal = GOALS.get(project.subscribers)
    if goal is None:
        return "none stated for this N", "-"
    limit_ms, max_ratio = goal
    text = f"p99 < {limit_ms:.0f} ms" + (f", ratio <= {max_ratio:g}" if max_ratio else "")
    if project.error or not project.rounds or project.missing:
        return text, "no"
    met = project.percentile_ms(0.99) < limit_ms
    if max_ratio is not None:
        if bare is None or bare.error or not bare.latencies:
            return text, "unknown (no bare figure)"
        met = met and project.percentile_ms(0.99) / bare.percentile_ms(0.99) <= max_ratio
    return text, "yes" if met else "no"


def report(run: Run, phases: list[Phase], facts: list[str]) -> str:
    args = run.args
    extensions = next((phase.extensions for phase in phases if phase.extensions), "")
    lines = [
        *facts,
        f"settings: rounds {args.rounds} (alternating pause/resume; bare: the same frame), "
        f"{args.gap:g} s quiet before each; one server process per path and N; one clients "
        f"process (one asyncio loop) per phase, {args.connect_concurrency} handshakes at a "
        f"time; uvicorn options as `journeys serve` (backlog {run.options.get('backlog')}), "
        "WebSocket pings "
        + (f"every {args.ws_ping:g} s" if args.ws_ping > 0 else "off")
        + " on both servers; clients "
        + (
            f"offer permessage-deflate (negotiated: {extensions or 'none'})"
            if args.compression == "deflate"
            else "offer no compression"
        ),
        "latency: client receipt time.time() minus t0, the driver's time.time() just before "
        "the HTTP request (mutation / POST /broadcast); it includes the mutation's own "
        "handling, an upper bound on commit -> receipt",
        "",
        "per round:",
        f"{'N':>6} {'path':<8} {'round':>5} {'change':<9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'missing':>7} {'HTTP ms':>8} {'server CPU ms':>13} "
        f"{'clients CPU ms':>14} {'server GC ms':>12} {'machine busy':>12}",
    ]
    for phase in phases:
        for one in phase.rounds:
            lines.append(
                f"{phase.subscribers:>6} {phase.path:<8} {one.number:>5} {one.change:<9} "
                f"{fmt(phase.percentile_ms(0.50, one.latencies)):>8} "
                f"{fmt(phase.percentile_ms(0.99, one.latencies)):>8} "
                f"{fmt(phase.percentile_ms(1.0, one.latencies)):>8} {one.missing:>7} "
                f"{one.http_seconds * 1000:>8.1f} "
                f"{fmt(None if one.server_cpu is None else one.server_cpu * 1000, '.0f'):>13} "
                f"{fmt(None if one.clients_cpu is None else one.clients_cpu * 1000, '.0f'):>14} "
                f"{one.gc_ms:>12.0f} {fmt(one.machine_busy, '.0%'):>12}"
            )
        if phase.error:
            lines.append(f"{phase.subscribers:>6} {phase.path:<8} FAILED: {phase.error}")
    lines += [
        "",
        "phases (memory: server VmRSS; per connection = (after all subscribed - before) / N;",
        " executions: journeys_shared_subscriptions once all subscribed, '-' if not reported):",
        f"{'N':>6} {'path':<8} {'subscribe s':>11} {'RSS before MiB':>14} "
        f"{'subscribed MiB':>14} {'after rounds MiB':>16} {'KiB/conn':>9} {'log errors':>10} "
        f"{'executions':>10}",
    ]
    for phase in phases:
        mib = [
            None if kib is None else kib / 1024
            for kib in (phase.rss_before, phase.rss_subscribed, phase.rss_after_rounds)
        ]
        lines.append(
            f"{phase.subscribers:>6} {phase.path:<8} {fmt(phase.subscribe_seconds):>11} "
            f"{fmt(mib[0]):>14} {fmt(mib[1]):>14} {fmt(mib[2]):>16} "
            f"{fmt(phase.kib_per_connection):>9} {phase.log_errors:>10} "
            f"{'-' if phase.executions is None else phase.executions:>10}"
        )
    lines += [
        "",
        "summary (all rounds pooled; ratio = project p99 / bare p99):",
        f"{'N':>6} {'project p50/p99/max ms':>24} {'bare p50/p99/max ms':>22} "
        f"{'ratio p99':>9} {'KiB/conn project/bare':>22}  {'goal':<26} {'met':<4}",
    ]
    by_key = {(phase.path, phase.subscribers): phase for phase in phases}
    for count in args.subscribers:
        project, bare = by_key.get(("project", count)), by_key.get(("bare", count))
        if project is None:
            continue

        ratio = None
        if project.latencies and bare is not None and bare.latencies:
            ratio = project.percentile_ms(0.99) / bare.percentile_ms(0.99)
        memory = (
            f"{fmt(project.kib_per_connection)}/"
            f"{fmt(None if bare is None else bare.kib_per_connection)}"
        )
        goal, met = goal_verdict(project, bare)
        lines.append(
            f"{count:>6} {triple(project):>24} {triple(bare):>22} {fmt(ratio, '.2f'):>9} "
            f"{memory:>22}  {goal:<26} {met:<4}"
        )
    for phase in phases:
        label = f"{phase.path} N={phase.subscribers}"
        if phase.missing:
            lines.append(f"{label}: {phase.missing} frames never arrived (within --timeout)")
        for problem in sorted(set(phase.problems))[:3]:
            lines.append(f"{label}: {problem}")
        for sample in phase.log_samples:
            lines.append(f"{label} server log ({phase.log_errors} error lines): {sample[:200]}")
    lines.append(f"server logs: {run.workdir}" if args.keep else "server logs: --keep keeps them")
    return "\n".join(lines)


def machine_facts(database: str) -> list[str]:
    from importlib.metadata import version

    import starlette
    import uvicorn

    return [
        machine_line(f", RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}"),
        f"python: {platform.python_implementation()} {platform.python_version()}, {loop_name()}, "
        f"uvicorn {uvicorn.__version__}, starlette {starlette.__version__}, "
        f"websockets {version('websockets')} (clients), httpx {httpx.__version__}",
        f"database: {database}",
    ]


# -- the run ----------------------------------------------------------------------------


async def benchmark(args: argparse.Namespace, workdir: Path, processes: Processes) -> str:
    raise_fd_limit()
    busy_before = await wait_for_quiet(args.wait_quiet)
    setup = prepare(args, workdir, processes, role="admin")
    database = setup.database.description
    run = Run(args, workdir, processes, setup.env, setup.token, setup.uvicorn_options)
    code_before = code_fingerprint()
    phases: list[Phase] = []
    for count in args.subscribers:
        for path in ("project", "bare"):
            phases.append(await run_phase(run, path, count))
    facts = machine_facts(database)
    code_after = code_fingerprint()
    facts.append(f"server code: {code_before}")
    if code_after != code_before:
        facts.append(f"  WARNING: the sources changed during the run, now {code_after}")
    if busy_before is not None:
        quiet = "" if busy_before < 0.1 else "  WARNING: something else is using the CPU"
        facts.append(f"machine busy before start: {busy_before:.0%}{quiet}")
    return report(run, phases, facts)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--subscribers", type=int, nargs="+", default=[1_000, 10_000], help="values of N"
    )
    parser.add_argument("--rounds", type=int, default=3, help="status changes per phase")
    parser.add_argument("--gap", type=float, default=2.0, help="quiet seconds before each round")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds allowed for all N to subscribe, and for one round to reach everyone",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://host:port/db to use PostgreSQL (db is only used to create the "
        "bench database); default: a SQLite file in a temporary directory",
    )
    parser.add_argument(
        "--pg-database",
        default="journeys_fanout",
        help="PostgreSQL database to drop and recreate for the run",
    )
    parser.add_argument(
        "--ws-ping",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="uvicorn WebSocket ping interval and timeout on both servers (20 s is what "
        "`journeys serve` uses); 0 turns pings off",
    )
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="what the clients offer; browsers offer permessage-deflate",
    )
    parser.add_argument(
        "--connect-concurrency", type=int, default=200, help="WebSocket handshakes at a time"
    )
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    return run_benchmark(
        lambda workdir, processes: benchmark(args, workdir, processes),
        keep=args.keep,
        name="fanout",
    )


if __name__ == "__main__":
    sys.exit(main())
