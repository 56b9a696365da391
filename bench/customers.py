"""Customers' data: import, estimate, segment load and events, each beside its raw peer.

On PostgreSQL: one `journeys serve` and `--workers` (2) `journeys worker` processes on a
private Redis (distributed mode), as audience.py runs them. A file of `--customers` NDJSON
profiles is written into the run directory; then the phases (`--phases`, all by default;
customer_phases.py); without the import phase the profiles are put into the project's table
by the peer's COPY, unmeasured. Each figure is printed beside its peer's from the same run
(peer_customers.py, peer_events.py), with the ratio, the goal, and how busy the machine was.

    .venv/bin/python bench/customers.py --customers 50000
    .venv/bin/python bench/customers.py --phases estimate,segment --json /tmp/customers.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

import harness as h
from audience import peak_rss_mb, processors_running
from customer_phases import RUNNERS, WORKSPACE, Figure, Run
from peer_customers import copy_import, fresh_schema

PHASES = ("import", "estimate", "segment", "events")
COUNTRIES = ["VN", "US", "FR", "DE", "GB", "JP", "KR", "TH", "ID", "PH", "SG", "MY", "IN", "BR",
             "MX", "ES", "IT", "NL", "AU", "CA"]  # fmt: skip
NAMES = ["An", "Binh", "Chi", "Dung", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jack"]


def write_profiles(path: Path, customers: int) -> None:
    rng = random.Random(20261201)
    with path.open("w") as out:
        for n in range(1, customers + 1):
            day = date(rng.randint(1950, 2005), 1, 1) + timedelta(days=rng.randrange(365))
            attributes = {
                "email": f"c{n:07d}@example.com",
                "first_name": rng.choice(NAMES),
                "birthday": day.isoformat(),
                "country": rng.choice(COUNTRIES),
                "plan": rng.choice(["free", "pro", "team"]),
                "score": round(rng.uniform(0, 100), 2),
            }
            out.write(json.dumps({"id": f"c{n:07d}", "attributes": attributes}) + "\n")


async def benchmark(args: argparse.Namespace, workdir: Path, processes: h.Processes) -> str:
    busy_before = await h.wait_for_quiet(args.wait_quiet)
    setup = h.prepare(args, workdir, processes)
    if setup.database.is_sqlite:
        raise SystemExit("customers.py runs on PostgreSQL: give --database-url postgresql://...")
    redis_url, _ = h.start_redis(processes, workdir)
    setup.env = {**setup.env, "REDIS_URL": redis_url, "JOURNEYS_QUEUE_NAME": "bench:customers"}
    api = await h.start_project(setup, "api")
    logs = [workdir / f"worker-{n}.log" for n in range(args.workers)]
    for n, log in enumerate(logs):
        command = [str(h.JOURNEYS_CLI), "worker"]
        processes.start(f"worker-{n}", command, setup.env, log, cwd=setup.source)
    await processors_running(processes, logs)
    fresh_schema(setup.database.url)
    run = Run(args, setup, api, processes, workdir / "profiles.ndjson")
    h.note(f"writing {args.customers:,} profiles to {run.profiles}")
    write_profiles(run.profiles, args.customers)
    phases = [p for p in PHASES if p in args.phases.split(",")]
    if "import" not in phases:
        h.note("no import phase: the profiles go into the project's table by COPY (not measured)")
        copy_import(setup.database.url, run.profiles, WORKSPACE, schema="public")
    figures: list[Figure] = []
    blocked: dict[str, str] = {}
    for phase in phases:
        h.note(f"phase {phase}")
        try:
            figures += await RUNNERS[phase](run)
        except h.Failed as failure:
            blocked[phase] = str(failure)
    workers = enumerate(processes.pids("worker"))
    memory = {"api": peak_rss_mb(api.pid)} | {f"worker-{n}": peak_rss_mb(p) for n, p in workers}
    settings = f"{args.customers:,} customers, {args.workers} workers (distributed, private redis)"
    header = h.facts(setup, busy_before, settings)
    rows = [
        [f.name, f.project, f.peer, h.fmt(f.ratio, ".2f"), f.goal,
         "-" if f.met is None else ("met" if f.met else "NOT met"), f.busy]
        for f in figures
    ]  # fmt: skip
    columns = ["figure", "project", "peer", "ratio", "goal", "met", "busy (project / peer)"]
    lines = [*header, "", h.table(columns, rows)]
    lines.append("peak RSS: " + ", ".join(f"{k} {h.fmt(v, '.0f')} MB" for k, v in memory.items()))
    lines += [f"{phase}: BLOCKED: {why}" for phase, why in blocked.items()]
    if args.json:
        result = {"facts": header, "figures": [asdict(f) for f in figures], "blocked": blocked,
                  "peak_rss_mb": memory}  # fmt: skip
        args.json.write_text(json.dumps(result, indent=2))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_database_options(parser, "journeys_customers")
    parser.set_defaults(database_url="postgresql://127.0.0.1:5432/test", sqlite_calls="direct")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--phases", default=",".join(PHASES), help="any of " + ",".join(PHASES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5, help="estimate: runs, median taken")
    parser.add_argument("--calls", type=int, default=100, help="events: trackEvents calls")
    parser.add_argument("--clients", type=int, default=4, help="events: concurrent clients")
    parser.add_argument("--pool-size", type=int, default=4, help="peer_events' connections")
    parser.add_argument("--project-source", type=Path, default=h.REPO, metavar="DIR")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    h.add_run_options(parser)
    args = parser.parse_args(argv)
    if unknown := set(args.phases.split(",")) - set(PHASES):
        parser.error(f"unknown phases {sorted(unknown)}")
    return h.run_benchmark(
        lambda workdir, processes: benchmark(args, workdir, processes),
        keep=args.keep,
        name="customers",
    )


if __name__ == "__main__":
    sys.exit(main())
