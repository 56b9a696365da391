"""Reads per second: `journey(id)` and `journeys(first: 50)`, the project against the floor.

The paths, each its own server process on one fresh database, measured in turn:

* **project**: `journeys serve`;
* **floor**: `peer_floor.py`, a minimal Strawberry schema taking the same documents, its
  resolvers running the same SQL on the raw driver (`sqlite3` / async `psycopg`);
* **bare**: `peer_bare.py`, bare Starlette routes (`GET /journeys/{id}`, `GET /journeys`)
  running that SQL, for reference.

The queries:

* `journey`: `query($id: ID!) { journey(id: $id) { id name status revision
  availableActions } }`, each worker going round all the journeys;
* `journeys`: `query($first: Int) { journeys(first: $first) { totalCount edges { node { id
  name status labels availableActions } } } }` with `first: 50`.

The data: `--journeys` (200) journeys created over the project's API, two labels each, a
third each DESIGNING, ACTIVE and PAUSED. Before measuring, the script asks every path the same
questions (20 journeys and the first page) and checks that the peers answer what the project
answers. Each of `--workers` (16) workers has its own keep-alive client and sends its query for
`--duration` seconds after `--warmup` seconds not counted; every answer is checked (id and
status, or the count and the page's size).

Goal: project >= 0.5x the floor, for each query.

Run from the repository root:
    .venv/bin/python bench/reads.py
    .venv/bin/python bench/reads.py --database-url postgresql://127.0.0.1:5432/test
    .venv/bin/python bench/reads.py --duration 2 --warmup 0.5     # a smoke run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx
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
QUERIES = ("journey", "journeys")
PAGE = 50
GOAL = 0.5
STATUSES = ("DESIGNING", "ACTIVE", "PAUSED")
JOURNEY_FIELDS = ("id", "name", "status", "revision", "availableActions")
NODE_FIELDS = ("id", "name", "status", "labels", "availableActions")


class ReadOne:
    """A worker's step: `journey(id)` of the next journey, from `start` on."""

    def __init__(self, api: Api, statuses: dict[str, str], start: int) -> None:
        self.api = api
        self.statuses = statuses
        self.ids = list(statuses)
        self.turn = start

    async def __call__(self, client: Client) -> None:
        journey_id = self.ids[self.turn % len(self.ids)]
        self.turn += 1
        answer = await self.api.journey(client, journey_id)
        if answer is None or answer["id"] != journey_id:
            raise Failed(f"journey({journey_id}) answered {answer}")
        if answer["status"] != self.statuses[journey_id] or not answer["name"]:
            raise Failed(f"journey({journey_id}) answered {answer}")


class ReadPage:
    """A worker's step: the first page."""

    def __init__(self, api: Api, total: int) -> None:
        self.api = api
        self.total = total

    async def __call__(self, client: Client) -> None:
        answer = await self.api.journeys(client, PAGE)
        edges = answer["edges"]
        if answer["totalCount"] != self.total or len(edges) != min(PAGE, self.total):
            raise Failed(f"journeys(first: {PAGE}) answered {str(answer)[:200]}")
        if not edges[0]["node"]["id"] or "availableActions" not in edges[-1]["node"]:
            raise Failed(f"journeys(first: {PAGE}) answered {str(answer)[:200]}")


def picked(answer: dict[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    return None if answer is None else {name: answer.get(name) for name in fields}


async def differences(
    servers: dict[str, Server], headers: dict[str, str], sample: list[str]
) -> list[str]:
    """Where a peer's answers differ from the project's, on `sample` and the first page."""
    answers: dict[str, list[Any]] = {}
    for path, server in servers.items():
        api = api_of(path)
        async with httpx.AsyncClient(
            base_url=server.url, headers=headers, timeout=30.0, trust_env=False
        ) as client:
            got: list[Any] = [
                picked(await api.journey(client, journey_id), JOURNEY_FIELDS)
                for journey_id in sample
            ]
            page = await api.journeys(client, PAGE)
            got.append(page["totalCount"])
            got += [picked(edge["node"], NODE_FIELDS) for edge in page["edges"]]
            answers[path] = got
    found = []
    for path, got in answers.items():
        wrong = [(mine, theirs) for mine, theirs in zip(answers["project"], got, strict=False)
                 if mine != theirs]  # fmt: skip
        if wrong or len(got) != len(answers["project"]):
            found.append(f"{path} differs from the project, e.g. {wrong[:1]}")
    return found


async def benchmark(args: argparse.Namespace, workdir: Path, processes: Processes) -> str:
    busy_before = await wait_for_quiet(args.wait_quiet)
    setup = prepare(args, workdir, processes)
    servers: dict[str, Server] = {"project": await start_project(setup)}
    for peer in args.paths[1:]:
        servers[peer] = await start_peer(setup, peer, args)
    names = [f"read-{n}" for n in range(args.journeys)]
    ids = await create_journeys(
        servers["project"],
        setup.headers,
        names,
        labels=lambda n: ("bench", f"l{n % 5}"),
        statuses=lambda n: STATUSES[n % 3],
    )
    statuses = {journey_id: STATUSES[n % 3] for n, journey_id in enumerate(ids)}
    problems = await differences(servers, setup.headers, ids[:: max(1, len(ids) // 20)])

    def steps(path: str, query: str) -> list[Step]:
        api = api_of(path)
        if query == "journey":
            share = max(1, len(ids) // args.workers)
            return [ReadOne(api, statuses, n * share) for n in range(args.workers)]
        return [ReadPage(api, len(ids)) for _ in range(args.workers)]

    totals = {(query, path): Phase(path) for query in args.queries for path in args.paths}
    for number in range(1, args.rounds + 1):
        for query in args.queries:
            for path in args.paths:
                spy = None
                if args.py_spy:
                    spy = args.py_spy / f"round{number}" / f"{path}-{query}.txt"
                phase = await measure(
                    path, servers[path], setup.headers, steps(path, query),
                    duration=args.duration, warmup=args.warmup, py_spy=spy, client=args.client,
                )  # fmt: skip
                totals[(query, path)].add(phase)
                processes.check_alive()
    return report(args, setup, busy_before, totals, problems)


def report(
    args: argparse.Namespace,
    setup: Setup,
    busy_before: float | None,
    totals: dict[tuple[str, str], Phase],
    problems: list[str],
) -> str:
    settings = (
        f"load: {args.workers} workers, each on its own keep-alive client; {args.journeys} "
        f"journeys (2 labels each; DESIGNING, ACTIVE, PAUSED in turn); {args.rounds} x "
        f"{args.duration:g} s measured per path and query (each after {args.warmup:g} s "
        f"warm-up, paths interleaved); client: {args.client}; peers' SQLite calls: "
        f"{args.sqlite_calls}, peers' "
        f"PostgreSQL pool: {args.pool_size}"
    )
    lines = [*facts(setup, busy_before, settings)]
    lines.append(
        "answers: " + ("; ".join(problems) if problems else "every peer answered what the "
                       "project answered (20 journeys and the first page)")
    )  # fmt: skip
    for query in args.queries:
        phases = [totals[(query, path)] for path in args.paths]
        title = "journey(id)" if query == "journey" else f"journeys(first: {PAGE})"
        lines += ["", f"{title}:", phase_table(phases, "requests", "req"), ""]
        project = phases[0]
        lines += ratio_lines(project, phases[1:])
        if "floor" in args.paths:
            floor = totals[(query, "floor")]
            lines.append(
                goal_line(f"{title}: project/floor throughput", ratio(project, floor), GOAL)
            )
        lines += error_lines(phases)
    for query in args.queries:
        for path in args.paths:
            if totals[(query, path)].stacks:
                lines += ["", *stacks_report(f"{path} {query}", totals[(query, path)].stacks)]
    return "\n".join(lines)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_database_options(parser, "journeys_reads")
    parser.add_argument("--journeys", type=int, default=200, help="journeys in the workspace")
    parser.add_argument(
        "--queries", default=",".join(QUERIES), help="which queries, comma-separated"
    )
    parser.add_argument(
        "--paths", default=",".join(PATHS), help="which paths, comma-separated (project first)"
    )
    add_load_options(parser)
    args = parser.parse_args(argv)
    args.paths = [path.strip() for path in args.paths.split(",") if path.strip()]
    args.queries = [query.strip() for query in args.queries.split(",") if query.strip()]
    if not args.paths or args.paths[0] != "project" or not set(args.paths) <= set(PATHS):
        parser.error(f"--paths: 'project' first, then any of {', '.join(PATHS[1:])}")
    if not args.queries or not set(args.queries) <= set(QUERIES):
        parser.error(f"--queries: any of {', '.join(QUERIES)}")
    if args.journeys < 1:
        parser.error("--journeys must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    return run_benchmark(
        lambda workdir, processes: benchmark(args, workdir, processes),
        keep=args.keep,
        name="reads",
    )


if __name__ == "__main__":
    sys.exit(main())
