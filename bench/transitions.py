"""Status transitions per second (pause/resume, or with `--creates` create + activate pairs):
the project against the framework floor (peer_floor.py) and bare (peer_bare.py), one server
after the other on one database. Its `measure` serves reads.py too."""

from __future__ import annotations

import asyncio
import sys
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
Step = Callable[[h.RawClient], Awaitable[None]]  # one checked operation; raises on a bad one
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
        busiest = max(self.busy, default=None)
        return [self.path, *cells, h.fmt(busiest, ".0%"), str(len(self.errors))]


async def measure(run: h.Run, phase: Phase, server: tuple[str, int], steps: Sequence[Step]) -> None:
    """One round: each step on its own keep-alive client in a loop, `--warmup` s not counted,
    then `--duration` s measured and added to `phase`; failures are counted, not timed."""
    url, pid = server
    h.note(f"measuring {phase.path}")

    async def loop(client: h.RawClient, step: Step, until: float, timed: bool) -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                await step(client)
            except (h.Failed, OSError, KeyError, TypeError, asyncio.IncompleteReadError) as error:
                if timed:
                    phase.errors.append(f"{type(error).__name__}: {error}"[:200])
                await asyncio.sleep(0.001)  # a failing server is not spun on
                continue
            if timed:
                phase.latencies.append(time.perf_counter() - started)

    clients = [h.RawClient(url, run.headers) for _ in steps]
    for seconds, timed in ((run.args.warmup, False), (run.args.duration, True)):
        cpu, ticks, started = h.cpu_seconds([pid]), h.machine_ticks(), time.perf_counter()
        loops = (loop(c, s, started + seconds, timed) for c, s in zip(clients, steps, strict=True))
        await asyncio.gather(*loops)
        if timed:
            phase.seconds += time.perf_counter() - started
            phase.server_cpu += h.cpu_seconds([pid]) - cpu
            phase.busy += [h.busy_since(ticks) or 0.0]
    await asyncio.gather(*(client.__aexit__() for client in clients))


async def rounds(
    run: h.Run, servers: dict[str, tuple[str, int]], steps: dict[str, list[Step]]
) -> list[Phase]:
    """`--rounds` rounds, each measuring every server in turn with its steps: noise that
    lasts a few seconds on a shared machine falls on every server alike."""
    phases = {path: Phase(path) for path in servers}
    for _ in range(run.args.rounds):
        for path, server in servers.items():
            await measure(run, phases[path], server, steps[path])
    return list(phases.values())


def journey_input(name: str, labels: Sequence[str] = ()) -> dict[str, Any]:
    """A complete draft: EVENT_TRIGGERED on its own name, one SEND step, its labels."""
    steps = [{"type": "SEND", "channel": "log", "template": "t"}]
    given = {"name": name, "kind": "EVENT_TRIGGERED", "triggerEvent": name, "steps": steps}
    return given | {"labels": list(labels)}


async def peers(run: h.Run) -> dict[str, tuple[str, int]]:
    """The project's server, the floor and bare, the peers with a connection per client."""
    servers = {"project": await run.serve("project")}
    for peer in ("floor", "bare"):
        command = (f"peer_{peer}.py", "--pool-size", str(run.args.clients))
        servers[peer] = await run.serve(peer, command)
    return servers


def graphql_request(action: str) -> tuple[str, str]:
    """The document an action sends a GraphQL server, and the field that answers it."""
    if action in READS:
        return READS[action], action
    return (h.CREATE if action == "create" else MOVE.format(action)), f"{action}Journey"


async def ask(client: h.RawClient, path: str, action: str, given: Any = None) -> Any:
    """On the project or the floor a GraphQL document, on bare its route: a transition
    (`given`: the journey's id), a creation (its input), a read of `journey` (its id) or the
    first page of `journeys`."""
    if path != "bare":
        variables = {} if given is None else {"i" if action == "create" else "id": given}
        document, field = graphql_request(action)
        return (await client.graphql(document, variables))[field]
    if action in ("journey", "journeys"):
        status, answer = await client.request("GET", f"/journeys/{given}" if given else PAGE)
    else:  # a creation's input, or the id of the journey to move
        status, answer = await client.request("POST", f"/{action}", given)
    if status != 200:
        raise h.Failed(f"HTTP {status}: {answer}")
    return answer


def alternate(path: str, journeys: list[str]) -> Step:
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


def create_activate(path: str, prefix: str) -> Step:
    made = iter(range(1 << 62))

    async def step(client: h.RawClient) -> None:
        created = await ask(client, path, "create", journey_input(f"{prefix}-{next(made)}", "ab"))
        if (await ask(client, path, "activate", created["id"]))["status"] != "ACTIVE":
            raise h.Failed(f"activate of {created['id']} failed")

    return step


async def benchmark(run: h.Run) -> str:
    args = run.args
    run.prepare()
    servers, chosen = await peers(run), dict[str, list[Step]]()
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
    what = "create + activate pairs" if args.creates else "pause/resume"
    settings = f"{what}; {args.clients} clients, {args.rounds} x {args.duration:g} s after "
    settings += f"{args.warmup:g} s; "
    settings += f"{ratios}; goal project/{goal.path} " + h.goal(project.rate / goal.rate, ">=", 0.5)
    errors = "".join(f"\nerror {p.path}: {p.errors[0]}" for p in phases if p.errors)
    return run.report(settings, PHASE, [p.row() for p in phases]) + errors


if __name__ == "__main__":
    parser = h.parser(__doc__, "transitions")
    parser.add_argument("--creates", action="store_true", help="create + activate pairs")
    parser.add_argument("--journeys", type=int, default=32, help="journeys per server")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, servers in turn")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds measured a round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not counted first")
    sys.exit(h.run(parser.parse_args(), benchmark))
