"""Status transitions per second (pause/resume, or with `--creates` create + activate pairs):
the project against the framework floor (peer_floor.py) and bare (peer_bare.py), one server
after the other on one database. README.md says what it measures; `--help` the options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import harness as h

MOVE = "mutation($id: ID!) {{ {}Journey(id: $id) {{ id status revision }} }}"
CREATE = "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id status } }"


def journey_input(name: str, labels: Sequence[str] = ()) -> dict[str, Any]:
    """A complete draft: EVENT_TRIGGERED on its own name, one SEND step, its labels."""
    steps = [{"type": "SEND", "channel": "log", "template": "t"}]
    given = {"name": name, "kind": "EVENT_TRIGGERED", "triggerEvent": name, "steps": steps}
    return given | {"labels": list(labels)}


async def peers(run: h.Run, clients: int) -> dict[str, tuple[str, int]]:
    """The project's server, the floor and bare, the peers with a connection per client."""
    servers = {"project": await run.serve("project")}
    for peer in ("floor", "bare"):
        servers[peer] = await run.serve(peer, (f"peer_{peer}.py", "--pool-size", str(clients)))
    return servers


async def ask(client: h.RawClient, path: str, action: str, given: Any) -> dict[str, Any]:
    """A transition (`given`: the journey's id) or a creation (`given`: its input)."""
    if path == "bare":
        route = "/journeys" if action == "create" else "/transition"
        body = given if action == "create" else {"id": given, "action": action}
        status, answer = await client.request("POST", route, body)
        if status != 200:
            raise h.Failed(f"HTTP {status}: {answer}")
        return dict(answer)
    if action == "create":
        return dict((await client.graphql(CREATE, {"i": given}))["createJourney"])
    return dict((await client.graphql(MOVE.format(action), {"id": given}))[f"{action}Journey"])


def alternate(path: str, journeys: list[str]) -> h.Step:
    """The next of these journeys paused if ACTIVE, resumed if PAUSED."""
    state, turn = dict.fromkeys(journeys, "ACTIVE"), iter(range(1 << 62))

    async def step(client: h.RawClient) -> None:
        journey_id = journeys[next(turn) % len(journeys)]
        paused = state[journey_id] == "PAUSED"
        action, target = ("resume", "ACTIVE") if paused else ("pause", "PAUSED")
        if (await ask(client, path, action, journey_id))["status"] != target:
            raise h.Failed(f"{action} of {journey_id} did not make it {target}")
        state[journey_id] = target  # a refused move is tried again next turn

    return step


def create_activate(path: str, prefix: str) -> h.Step:
    made = iter(range(1 << 62))

    async def step(client: h.RawClient) -> None:
        created = await ask(client, path, "create", journey_input(f"{prefix}-{next(made)}", "ab"))
        if (await ask(client, path, "activate", created["id"]))["status"] != "ACTIVE":
            raise h.Failed(f"activate of {created['id']} failed")

    return step


async def benchmark(run: h.Run) -> str:
    args = run.args
    run.prepare()
    servers = await peers(run, args.clients)
    phases = []
    async with h.RawClient(servers["project"][0], run.headers) as client:
        for path, server in servers.items():
            if args.creates:
                steps = [create_activate(path, f"{path}-{n}") for n in range(args.clients)]
            else:
                ids = [await h.journey(client, journey_input(f"{path}-{n}"), "activate")
                       for n in range(args.journeys)]  # fmt: skip
                steps = [alternate(path, ids[n :: args.clients]) for n in range(args.clients)]
            h.note(f"measuring {path}")
            work = (path, server, run.headers, steps, args.duration, args.warmup)
            phases.append(await h.measure(*work))
    project, floor, bare = phases
    goal = floor if args.creates or run.database == "SQLite" else bare
    ratios = ", ".join(f"project/{p.path} {project.rate / p.rate:.2f}x" for p in (floor, bare))
    verdict = "met" if project.rate >= 0.5 * goal.rate else "NOT met"
    what = "create + activate pairs" if args.creates else "pause/resume"
    settings = f"{what}; {args.clients} clients, {args.duration:g} s after {args.warmup:g} s; "
    settings += f"{ratios}; goal project/{goal.path} >= 0.5x: {verdict}"
    errors = [f"{p.path}: {p.errors[0]}" for p in phases if p.errors]
    return run.report(settings, h.PHASE, [p.row() for p in phases]) + "".join(
        f"\nerror {e}" for e in errors
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    h.options(parser, "journeys_bench")
    parser.add_argument("--creates", action="store_true", help="create + activate pairs")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--journeys", type=int, default=32, help="journeys per server")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted first")
    return h.run("transitions", parser.parse_args(), benchmark)


if __name__ == "__main__":
    sys.exit(main())
