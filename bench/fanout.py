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
previous phase never collide; `fanout_phase.py` runs a phase); one clients process per phase
(`ws_clients.py`, one asyncio loop holding all N connections on websockets' sans-I/O
protocol, each frame stamped in `data_received`). Memory per connection is the server's VmRSS
after all N subscribed minus VmRSS before the first connection, divided by N. Both servers
log their cyclic-GC passes of 20 ms or more (`ws_server.py`), so the report can show how
much of a round was a collection rather than the fan-out.

Goal: 10,000 subscribers p99 under 500 ms and within 2x of the bare broadcast; 1,000
subscribers p99 under 100 ms.

Run from the repository root:
    .venv/bin/python bench/fanout.py                        # 1,000 then 10,000 subscribers
    .venv/bin/python bench/fanout.py --subscribers 1000     # quicker
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
from pathlib import Path

import httpx
from fanout_phase import Phase, Run, run_phase
from harness import (
    Processes,
    add_database_options,
    add_run_options,
    busy_line,
    code_fingerprint,
    fmt,
    loop_name,
    machine_line,
    prepare,
    raise_fd_limit,
    run_benchmark,
    wait_for_quiet,
)

# N -> (p99 must be under this many ms, project p99 / bare p99 must be at most this or None)
GOALS: dict[int, tuple[float, float | None]] = {1_000: (100.0, None), 10_000: (500.0, 2.0)}

ROUND_ROW = "{:>6} {:<8} {:>5} {:<9} {:>8} {:>8} {:>8} {:>7} {:>8} {:>13} {:>14} {:>12} {:>12}"
PHASE_ROW = "{:>6} {:<8} {:>11} {:>14} {:>14} {:>16} {:>9} {:>10} {:>10}"
SUMMARY_ROW = "{:>6} {:>24} {:>22} {:>9} {:>22}  {:<26} {:<4}"


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


def ms(seconds: float | None) -> str:
    return fmt(None if seconds is None else seconds * 1000, ".0f")


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
        ROUND_ROW.format("N", "path", "round", "change", "p50 ms", "p99 ms", "max ms", "missing",
                         "HTTP ms", "server CPU ms", "clients CPU ms", "server GC ms",
                         "machine busy"),
    ]  # fmt: skip
    for phase in phases:
        for one in phase.rounds:
            lines.append(ROUND_ROW.format(
                phase.subscribers, phase.path, one.number, one.change,
                *(fmt(phase.percentile_ms(share, one.latencies)) for share in (0.5, 0.99, 1.0)),
                one.missing, f"{one.http_seconds * 1000:.1f}", ms(one.server_cpu),
                ms(one.clients_cpu), f"{one.gc_ms:.0f}", fmt(one.machine_busy, ".0%"),
            ))  # fmt: skip
        if phase.error:
            lines.append(f"{phase.subscribers:>6} {phase.path:<8} FAILED: {phase.error}")
    lines += [
        "",
        "phases (memory: server VmRSS; per connection = (after all subscribed - before) / N;",
        " executions: journeys_shared_subscriptions once all subscribed, '-' if not reported):",
        PHASE_ROW.format("N", "path", "subscribe s", "RSS before MiB", "subscribed MiB",
                         "after rounds MiB", "KiB/conn", "log errors", "executions"),
    ]  # fmt: skip
    for phase in phases:
        rss = (phase.rss_before, phase.rss_subscribed, phase.rss_after_rounds)
        lines.append(PHASE_ROW.format(
            phase.subscribers, phase.path, fmt(phase.subscribe_seconds),
            *(fmt(None if kib is None else kib / 1024) for kib in rss),
            fmt(phase.kib_per_connection), phase.log_errors,
            "-" if phase.executions is None else phase.executions,
        ))  # fmt: skip
    lines += [
        "",
        "summary (all rounds pooled; ratio = project p99 / bare p99):",
        SUMMARY_ROW.format("N", "project p50/p99/max ms", "bare p50/p99/max ms", "ratio p99",
                           "KiB/conn project/bare", "goal", "met"),
    ]  # fmt: skip
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
        lines.append(SUMMARY_ROW.format(
            count, triple(project), triple(bare), fmt(ratio, ".2f"), memory, goal, met
        ))  # fmt: skip
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


async def benchmark(args: argparse.Namespace, workdir: Path, processes: Processes) -> str:
    raise_fd_limit()
    busy_before = await wait_for_quiet(args.wait_quiet)
    setup = prepare(args, workdir, processes, role="admin")
    run = Run(args, workdir, processes, setup.env, setup.token, setup.uvicorn_options)
    code_before = code_fingerprint()
    phases: list[Phase] = []
    for count in args.subscribers:
        for path in ("project", "bare"):
            phases.append(await run_phase(run, path, count))
    facts = machine_facts(setup.database.description)
    code_after = code_fingerprint()
    facts.append(f"server code: {code_before}")
    if code_after != code_before:
        facts.append(f"  WARNING: the sources changed during the run, now {code_after}")
    return report(run, phases, [*facts, *busy_line(busy_before)])


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
    add_database_options(parser, "journeys_fanout")
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
