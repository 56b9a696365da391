"""Status transitions per second: the project against the framework floor and a bare handler.

The paths, each its own server process on one fresh database, measured in turn:

* **project**: `journeys serve`, sent `pauseJourney` / `resumeJourney`
  (`mutation($id: ID!) { pauseJourney(id: $id) { id status revision } }`);
* **floor**: `peer_floor.py`, a minimal Strawberry schema taking the same documents, its
  resolvers running the same SQL on the raw driver (`sqlite3` / async `psycopg`);
* **bare**: `peer_bare.py`, a bare Starlette handler (`POST /transition`) running that SQL.

The peers import nothing of the project (`peer_common.py` says what SQL they run). All are
served by uvicorn with the options `journeys serve` uses. Each of `--workers` (16) workers
has its own keep-alive client and its own journeys (`--journeys` per path, 32, created ACTIVE
over the project's API), and alternates pause / resume on them for `--duration` seconds after
`--warmup` seconds not counted; every answer is checked (id, status), failures are counted,
not timed.

With `--creates`, each worker instead sends `createJourney(input)` then `activateJourney(id)`
(one pair: a journeys row, a version, two labels, then DESIGNING -> ACTIVE with its event),
the floor and bare doing the same inserts.

Goals: project >= 0.5x the floor on SQLite, project >= 0.5x bare on PostgreSQL; with
`--creates`, project >= 0.5x the floor. Both ratios are printed either way, and the server CPU
per operation beside them (other load on the machine moves it less than throughput).

Run from the repository root:
    .venv/bin/python bench/transitions.py
    .venv/bin/python bench/transitions.py --database-url postgresql://127.0.0.1:5432/test
    .venv/bin/python bench/transitions.py --creates
    .venv/bin/python bench/transitions.py --duration 2 --warmup 0.5     # a smoke run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import (
    Api,
    Client,
    Failed,
    Phase,
    Processes,
    Server,
    Setup,
    Step,
    add_database_options,
    add_load_options,
    api_of,
    create_journeys,
    error_lines,
    facts,
    goal_line,
    journey_input,
    measure,
    phase_table,
    prepare,
    ratio,
    ratio_lines,
    run_benchmark,
    stacks_report,
    start_peer,
    start_project,
    wait_for_quiet,
)

PATHS = ("project", "floor", "bare")
GOAL = 0.5


class Alternate:
    """A worker's step: the next of its journeys, paused if ACTIVE, resumed if PAUSED."""

    def __init__(self, api: Api, journey_ids: list[str]) -> None:
        self.api = api
        self.journeys = [[journey_id, "ACTIVE"] for journey_id in journey_ids]
        self.turn = 0

    async def __call__(self, client: Client) -> None:
        journey = self.journeys[self.turn % len(self.journeys)]
        self.turn += 1
        action, target = ("pause", "PAUSED") if journey[1] == "ACTIVE" else ("resume", "ACTIVE")
        answer = await self.api.transition(client, journey[0], action)
        if answer["id"] != journey[0] or answer["status"] != target:
            raise Failed(f"{action} of {journey[0]} answered {answer}")
        journey[1] = target  # a refused move is tried again next turn: it changed nothing


class CreateActivate:
    """A worker's step: create a journey, then activate it."""

    def __init__(self, api: Api, prefix: str) -> None:
        self.api = api
        self.prefix = prefix
        self.created = 0

    async def __call__(self, client: Client) -> None:
        self.created += 1
        given = journey_input(f"{self.prefix}-{self.created}", ("bench", self.prefix[-1]))
        created = await self.api.create(client, given)
        if created["status"] != "DESIGNING":
            raise Failed(f"createJourney answered {created}")
        activated = await self.api.transition(client, str(created["id"]), "activate")
        if activated["status"] != "ACTIVE":
            raise Failed(f"activateJourney answered {activated}")


async def benchmark(args: argparse.Namespace, workdir: Path, processes: Processes) -> str:
    busy_before = await wait_for_quiet(args.wait_quiet)
    setup = prepare(args, workdir, processes)
    servers: dict[str, Server] = {"project": await start_project(setup)}
    for peer in args.paths[1:]:
        servers[peer] = await start_peer(setup, peer, args)
    steps: dict[str, list[Step]] = {}
    for path in args.paths:
        api = api_of(path)
        if args.creates:
            steps[path] = [CreateActivate(api, f"{path}-w{n}") for n in range(args.workers)]
            continue
        names = [f"{path}-{n}" for n in range(args.journeys)]
        ids = await create_journeys(servers["project"], setup.headers, names)
        steps[path] = [Alternate(api, ids[n :: args.workers]) for n in range(args.workers)]

    totals = {path: Phase(path) for path in args.paths}
    for number in range(1, args.rounds + 1):
        for path in args.paths:
            spy = args.py_spy / f"round{number}" / f"{path}.txt" if args.py_spy else None
            phase = await measure(
                path, servers[path], setup.headers, steps[path],
                duration=args.duration, warmup=args.warmup, py_spy=spy, client=args.client,
            )  # fmt: skip
            totals[path].add(phase)
            processes.check_alive()
    return report(args, setup, busy_before, list(totals.values()))


def report(
    args: argparse.Namespace, setup: Setup, busy_before: float | None, phases: list[Phase]
) -> str:
    what = "createJourney + activateJourney pairs" if args.creates else "pause/resume alternating"
    settings = (
        f"load: {what}; {args.workers} workers, each on its own keep-alive client"
        + ("" if args.creates else f" and its own journeys ({args.journeys} per path)")
        + f"; {args.rounds} x {args.duration:g} s measured per path (each after {args.warmup:g} s "
        f"warm-up, paths interleaved); client: {args.client}; peers' SQLite calls: "
        f"{args.sqlite_calls}, peers' "
        f"PostgreSQL pool: {args.pool_size}"
    )
    unit, short = ("pairs", "pair") if args.creates else ("transitions", "tr")
    lines = [*facts(setup, busy_before, settings), "", phase_table(phases, unit, short), ""]
    by_path = {phase.path: phase for phase in phases}
    project = by_path["project"]
    lines += ratio_lines(project, [phase for phase in phases if phase.path != "project"])
    goal_peer = "floor" if args.creates or setup.database.is_sqlite else "bare"
    if goal_peer in by_path:
        text = f"project/{goal_peer} throughput on {setup.database.label}"
        lines.append(goal_line(text, ratio(project, by_path[goal_peer]), GOAL))
    lines += error_lines(phases)
    for phase in phases:
        if phase.stacks:
            lines += ["", *stacks_report(phase.path, phase.stacks)]
    return "\n".join(lines)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_database_options(parser, "journeys_bench")
    parser.add_argument("--journeys", type=int, default=32, help="journeys per path")
    parser.add_argument(
        "--creates", action="store_true", help="createJourney + activateJourney pairs instead"
    )
    parser.add_argument(
        "--paths", default=",".join(PATHS), help="which paths, comma-separated (project first)"
    )
    add_load_options(parser)
    args = parser.parse_args(argv)
    args.paths = [path.strip() for path in args.paths.split(",") if path.strip()]
    if not args.paths or args.paths[0] != "project" or not set(args.paths) <= set(PATHS):
        parser.error(f"--paths: 'project' first, then any of {', '.join(PATHS[1:])}")
    if not args.creates and args.journeys < args.workers:
        parser.error(f"--journeys ({args.journeys}) must be at least --workers ({args.workers})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    return run_benchmark(
        lambda workdir, processes: benchmark(args, workdir, processes),
        keep=args.keep,
        name="transitions",
    )


if __name__ == "__main__":
    sys.exit(main())
