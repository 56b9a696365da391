"""Reads per second, `journey(id)` and `journeys(first: 50)`: the project against the floor
(peer_floor.py), bare (peer_bare.py) for reference, on journeys in three statuses. Every
server first answers the first page, which must be the project's."""

from __future__ import annotations

import sys
from typing import Any

import harness as h
from transitions import PHASE, Step, journey_input, measure, peers

PAGE = 50
ONE = "query($id: ID!) { journey(id: $id) { id name status revision availableActions } }"
MANY = "query($first: Int) { journeys(first: $first) { totalCount edges { node { id name "
MANY += "status labels availableActions } } } }"
STATUSES = (("DESIGNING", ()), ("ACTIVE", ("activate",)), ("PAUSED", ("activate", "pause")))


async def read(client: h.RawClient, path: str, journey_id: str | None) -> Any:
    """`journey(id)`, or the first page when `journey_id` is None."""
    if path == "bare":
        route = f"/journeys/{journey_id}" if journey_id else f"/journeys?first={PAGE}"
        status, answer = await client.request("GET", route)
        if status != 200:
            raise h.Failed(f"HTTP {status}: {answer}")
        return answer
    if journey_id:
        return (await client.graphql(ONE, {"id": journey_id}))["journey"]
    return (await client.graphql(MANY, {"first": PAGE}))["journeys"]


def steps(path: str, query: str, statuses: dict[str, str], clients: int) -> list[Step]:
    ids = list(statuses)

    def one(start: int) -> Step:
        turn = iter(range(start, 1 << 62))

        async def step(client: h.RawClient) -> None:
            journey_id = ids[next(turn) % len(ids)]
            answer = await read(client, path, journey_id)
            if answer["id"] != journey_id or answer["status"] != statuses[journey_id]:
                raise h.Failed(f"journey({journey_id}) answered {answer}")

        return step

    async def page(client: h.RawClient) -> None:
        answer = await read(client, path, None)
        if answer["totalCount"] != len(ids) or len(answer["edges"]) != min(PAGE, len(ids)):
            raise h.Failed(f"journeys(first: {PAGE}) answered {str(answer)[:200]}")

    share = max(1, len(ids) // clients)
    return [one(n * share) if query == "journey" else page for n in range(clients)]


async def benchmark(run: h.Run) -> str:
    args = run.args
    run.prepare()
    servers = await peers(run)
    statuses: dict[str, str] = {}
    async with h.RawClient(servers["project"][0], run.headers) as client:
        for n in range(args.journeys):
            status, moves = STATUSES[n % 3]
            given = journey_input(f"read-{n}", ("bench", f"l{n % 5}"))
            statuses[await h.journey(client, given, *moves)] = status
    fields = ("id", "name", "status", "labels", "availableActions")
    pages = {}
    for path, (url, _) in servers.items():
        async with h.RawClient(url, run.headers) as client:
            edges = (await read(client, path, None))["edges"]
            pages[path] = [{k: edge["node"][k] for k in fields} for edge in edges]
    rows, notes = [], [f"{path} answers unlike the project" for path in pages
                       if pages[path] != pages["project"]]  # fmt: skip
    for query in ("journey", "journeys"):
        phases = [await measure(run, path, server, steps(path, query, statuses, args.clients))
                  for path, server in servers.items()]  # fmt: skip
        rows += [[f"`{query}` {phase.path}", *phase.row()[1:]] for phase in phases]
        ratio = phases[0].rate / phases[1].rate
        notes.append(f"{query}: project/floor {ratio:.2f}x (>= 0.5x: "
                     f"{'met' if ratio >= 0.5 else 'NOT met'})")  # fmt: skip
    settings = f"{args.journeys} journeys, {args.clients} clients, {args.duration:g} s after "
    settings += f"{args.warmup:g} s; " + "; ".join(notes)
    return run.report(settings, ["query and path", *PHASE[1:]], rows)


def main() -> int:
    parser = h.parser(__doc__, "reads")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--journeys", type=int, default=200)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted first")
    return h.run("reads", parser.parse_args(), benchmark)


if __name__ == "__main__":
    sys.exit(main())
