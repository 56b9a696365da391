"""Reads per second, `journey(id)` and `journeys(first: 50)`, the project against the floor
and bare; every server's first page must first be the project's."""

import itertools

import harness as h
from transitions import DURATION_HELP, LOAD, PHASE, Step, ask, journey_input, load, peers, rounds

STATUSES = (("DESIGNING", ()), ("ACTIVE", ("activate",)), ("PAUSED", ("activate", "pause")))
FIELDS = ("id", "name", "status", "labels", "availableActions")


def steps(path: str, query: str, statuses: dict[str, str], clients: int) -> list[Step]:
    """Each client's checked read: `journey` of each id in turn, or `journeys`' first page."""
    ids, share = list(statuses), max(1, len(statuses) // clients)

    def one(start: int) -> Step:
        turn = itertools.cycle(ids[start:] + ids[:start])

        async def step(client: h.RawClient) -> None:
            journey_id = next(turn)
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
    args, statuses, rows, servers = run.args, dict[str, str](), [], await peers(run)
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
    notes = [f"{path} answers unlike the project" for path, page in pages.items()
             if page != pages["project"]]  # fmt: skip
    for query in ("journey", "journeys"):
        chosen = {path: steps(path, query, statuses, args.clients) for path in servers}
        phases = await rounds(run, servers, chosen)
        rows += [[f"`{query}` {phase.path}", *phase.row()[1:]] for phase in phases]
        ratio = phases[0].rate / phases[1].rate
        notes.append(f"{query}: project/floor " + h.goal(ratio, ">=", 0.5))
    settings = f"{args.journeys} journeys, {load(args)}; " + "; ".join(notes)
    return run.report(settings, ["query and path", *PHASE[1:]], rows)


if __name__ == "__main__":
    h.main(__doc__, "reads", benchmark, journeys=200, **LOAD, duration=(3.0, DURATION_HELP))
