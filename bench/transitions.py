"""Transitions per second (pause/resume, or `--creates`: create + activate pairs), the project
against the floor (peer_floor.py) and bare (peer_bare.py); its `rounds` serves reads.py too."""

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import harness as h

MOVE = "mutation($id: ID!) {{ {}Journey(id: $id) {{ id status revision }} }}"
READS = {
    "journey": "query($id: ID!) { journey(id: $id) { id name status revision availableActions } }",
    "journeys": "query { journeys(first: 50) { totalCount edges { node { id name status labels "
    "availableActions } } } }",
}
PAGE = "/journeys?first=50"
PEERS = ("floor", "bare")
Step = Callable[[h.RawClient], Awaitable[None]]  # one checked operation; raises on a bad one
# The load's options, which reads.py takes too with a `duration` of its own.
LOAD: dict[str, Any] = {"clients": 16, "rounds": (3, "rounds, servers in turn"),
                        "warmup": (1.0, "seconds not counted first")}  # fmt: skip
DURATION_HELP = "seconds measured a round"
PHASE = ["path", "throughput", "latency", "server CPU/op", "server cores", "busy", "errors"]


@dataclass
class Phase:
    """What one server did under load."""

    path: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cpu: float = 0.0
    busy: list[float] = field(default_factory=list)  # each round's

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def row(self) -> list[str]:
        cpu_ms = self.server_cpu * 1000 / max(1, len(self.latencies))
        cores = h.fmt(self.server_cpu / self.seconds if self.seconds else None, ".2f")
        cells = [f"{self.rate:,.1f}/s", h.ms(self.latencies), f"{cpu_ms:.2f} ms", cores]
        busiest = h.fmt(max(self.busy, default=None), ".0%")  # the busiest round's
        return [self.path, *cells, busiest, str(len(self.errors))]


async def rounds(
    run: h.Run, servers: dict[str, tuple[str, int]], steps: dict[str, list[Step]]
) -> list[Phase]:
    """`--rounds` rounds, each server in turn (a few seconds' noise falls on all alike): each
    step looping on a client of its own, `--warmup` s not counted, then `--duration` s."""
    phases = {path: Phase(path) for path in servers}
    for _ in range(run.args.rounds):
        for path, (url, pid) in servers.items():
            h.note(f"measuring {path}")
            clients = [(h.RawClient(url, run.headers), step) for step in steps[path]]
            warm_up = Phase(path)  # measured like the others, then dropped
            for seconds, phase in ((run.args.warmup, warm_up), (run.args.duration, phases[path])):
                cpu, ticks, started = h.cpu_seconds([pid]), h.machine_ticks(), time.perf_counter()
                await asyncio.gather(*(loop(phase, c, s, started + seconds) for c, s in clients))
                phase.seconds += time.perf_counter() - started
                phase.server_cpu += h.cpu_seconds([pid]) - cpu
                phase.busy += [h.busy_since(ticks) or 0.0]
            await asyncio.gather(*(client.__aexit__() for client, _ in clients))
    return list(phases.values())


async def loop(phase: Phase, client: h.RawClient, step: Step, until: float) -> None:
    """`step` again and again until `until`, timed into `phase`; failures counted, not timed."""
    while (started := time.perf_counter()) < until:
        try:
            await step(client)
            phase.latencies.append(time.perf_counter() - started)
        except (h.Failed, OSError, KeyError, TypeError, asyncio.IncompleteReadError) as error:
            phase.errors.append(f"{type(error).__name__}: {error}"[:200])
            await asyncio.sleep(0.001)  # a failing server is not spun on


def load(args: Any) -> str:
    """The load's settings, for the report."""
    return f"{args.clients} clients, {args.rounds} x {args.duration:g} s after {args.warmup:g} s"


def journey_input(name: str, labels: Sequence[str] = ()) -> dict[str, Any]:
    """A complete draft: EVENT_TRIGGERED on its own name, one SEND step, its labels."""
    steps = [{"type": "SEND", "channel": "log", "template": "t"}]
    given = {"name": name, "kind": "EVENT_TRIGGERED", "triggerEvent": name, "steps": steps}
    return given | {"labels": list(labels)}


async def peers(run: h.Run) -> dict[str, tuple[str, int]]:
    """A fresh database; the project's server, the floor's and bare's (a connection a client)."""
    run.prepare()
    servers, pool = {"project": await run.serve("project")}, ("--pool-size", str(run.args.clients))
    return servers | {peer: await run.serve(peer, (f"peer_{peer}.py", *pool)) for peer in PEERS}


async def ask(client: h.RawClient, path: str, action: str, given: Any = None) -> Any:
    """On the project or the floor a GraphQL document, on bare its route: a transition or a
    `journey` read (`given`: the id), a creation (its input), `journeys`' first page."""
    if path != "bare":
        document = READS.get(action) or (h.CREATE if action == "create" else MOVE.format(action))
        variables = {} if given is None else {"i" if action == "create" else "id": given}
        answer = await client.graphql(document, variables)
        return answer[action if action in READS else f"{action}Journey"]
    if action in READS:
        status, answer = await client.request("GET", f"/journeys/{given}" if given else PAGE)
    else:  # a creation's input, or the id of the journey to move
        status, answer = await client.request("POST", f"/{action}", given)
    if status != 200:
        raise h.Failed(f"HTTP {status}: {answer}")
    return answer


def alternate(path: str, journeys: list[str]) -> Step:
    """The next of these journeys paused if ACTIVE, resumed if PAUSED."""
    state, turn = dict.fromkeys(journeys, "ACTIVE"), itertools.cycle(journeys)

    async def step(client: h.RawClient) -> None:
        journey_id = next(turn)
        paused = state[journey_id] == "PAUSED"
        action, target = ("resume", "ACTIVE") if paused else ("pause", "PAUSED")
        if (await ask(client, path, action, journey_id))["status"] != target:
            raise h.Failed(f"{action} of {journey_id} did not make it {target}")
        state[journey_id] = target  # a refused move is tried again next turn

    return step


def create_activate(path: str, prefix: str) -> Step:
    """A new journey created, then activated."""
    made = itertools.count()

    async def step(client: h.RawClient) -> None:
        created = await ask(client, path, "create", journey_input(f"{prefix}-{next(made)}", "ab"))
        if (await ask(client, path, "activate", created["id"]))["status"] != "ACTIVE":
            raise h.Failed(f"activate of {created['id']} failed")

    return step


async def benchmark(run: h.Run) -> str:
    args, servers, chosen = run.args, await peers(run), dict[str, list[Step]]()
    async with h.RawClient(servers["project"][0], run.headers) as client:
        for path in servers:
            if args.creates:
                chosen[path] = [create_activate(path, f"{path}-{n}") for n in range(args.clients)]
            else:
                ids = [await h.journey(client, journey_input(f"{path}-{n}"), "activate")
                       for n in range(args.journeys)]  # fmt: skip
                chosen[path] = [
                    alternate(path, ids[n :: args.clients]) for n in range(args.clients)
                ]
    phases = await rounds(run, servers, chosen)
    project, floor, bare = phases
    goal = floor if args.creates or run.database == "SQLite" else bare
    ratios = ", ".join(f"project/{p.path} {project.rate / p.rate:.2f}x" for p in (floor, bare))
    settings = f"{'create + activate pairs' if args.creates else 'pause/resume'}; {load(args)}; "
    settings += f"{ratios}; goal project/{goal.path} " + h.goal(project.rate / goal.rate, ">=", 0.5)
    errors = "".join(f"\nerror {p.path}: {p.errors[0]}" for p in phases if p.errors)
    return run.report(settings, PHASE, [p.row() for p in phases]) + errors


if __name__ == "__main__":
    h.main(__doc__, "transitions", benchmark, creates=(False, "create + activate pairs"),
           journeys=(32, "journeys per server"), **LOAD, duration=(4.0, DURATION_HELP))  # fmt: skip
