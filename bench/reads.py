"""Reads per second, `journey(id)` and `journeys(first: 50)`: the project against the floor
(peer_floor.py), bare (peer_bare.py) for reference, on journeys in three statuses. Every
server first answers the first page, which must be the project's."""

from __future__ import annotations

import sys

import harness as h
from transitions import PHASE, Step, ask, journey_input, peers, rounds

STATUSES = (("DESIGNING", ()), ("ACTIVE", ("activate",)), ("PAUSED", ("activate", "pause")))
FIELDS = ("id", "name", "status", "labels", "availableActions")


def steps(path: str, query: str, statuses: dict[str, str], clients: int) -> list[Step]:
    """Each client's checked read: `journey` of the ids in turn from its own start, or the
    first page of `journeys`."""
    ids, share = list(statuses), max(1, len(statuses) // clients)

    def one(start: int) -> Step:
        turn = iter(range(start, 1 << 62))

        async def step(client: h.RawClient) -> None:
            journey_id = ids[next(turn) % len(ids)]
            answer = await ask(client, path, "journey", journey_id)
            if answer["id"] != journey_id or answer["status"] != statuses[journey_id]:
                raise h.Failed(f"journey({journey_id}) answered {answer}")

        return step

    async def page(client: h.RawClient) -> None:
        answer = await ask(client, path, "journeys")
        if answer["totalCount"] != len(ids) or len(answer["edges"]) != min(50, len(ids)):
            raise h.Failed(f"journeys(first: 50) answered {str(answer)[:200]}")

    return [one(n * share) if query == "journey" else page for n in range(clients)]


async def benchmark(run: h.Run) -> str:
    args, statuses, rows = run.args, dict[str, str](), []
    run.prepare()
    servers = await peers(run)
    async with h.RawClient(servers["project"][0], run.headers) as client:
        for n in range(args.journeys):
            status, moves = STATUSES[n % 3]
            given = journey_input(f"read-{n}", ("bench", f"l{n % 5}"))
            statuses[await h.journey(client, given, *moves)] = status
    pages = {}
    for path, (url, _) in servers.items():
        async with h.RawClient(url, run.headers) as client:
            edges = (await ask(client, path, "journeys"))["edges"]
            pages[path] = [{k: edge["node"][k] for k in FIELDS} for edge in edges]
    notes = [
        f"{path} answers unlike the project" for path in pages if pages[path] != pages["project"]
    ]
    for query in ("journey", "journeys"):
        chosen = {path: steps(path, query, statuses, args.clients) for path in servers}
        phases = await rounds(run, servers, chosen)
        rows += [[f"`{query}` {phase.path}", *phase.row()[1:]] for phase in phases]
        notes.append(
            f"{query}: project/floor " + h.goal(phases[0].rate / phases[1].rate, ">=", 0.5)
        )
    settings = f"{args.journeys} journeys, {args.clients} clients, {args.rounds} x "
    settings += f"{args.duration:g} s after "
    settings += f"{args.warmup:g} s; " + "; ".join(notes)
    return run.report(settings, ["query and path", *PHASE[1:]], rows)


if __name__ == "__main__":
    parser = h.parser(__doc__, "reads")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--journeys", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, servers in turn")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured a round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not counted first")
    sys.exit(h.run(parser.parse_args(), benchmark))
