"""Customers' data: import, estimate, segment load, events and a list's upload and load, each
beside its raw peer from the same run (peer_sql.py; for the events, peer_bare.py and the
Strawberry floor too)."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import harness as h
import peer_sql as peer
import psycopg
from flow import TRACK, abort, flow, peak_rss, post, send

T = TypeVar("T")
MAY = {"attribute": {"name": "birthday", "op": "MONTH_IS", "value": 5}}
CONDITION = {"all": [MAY, {"attribute": {"name": "country", "op": "EQUALS", "value": "VN"}}]}
COUNT = "query($c: ConditionInput!) { customerCount(condition: $c) }"
STATUS = "query($id: ID!) { journey(id: $id) { status stats { entered } } }"
UNSETTLED = """SELECT (SELECT count(*) FROM enrollments WHERE state = 'INSIDE')
  + (SELECT count(*) FROM deliveries WHERE state IN ('QUEUED', 'HANDED_OVER'))"""
COUNTRIES = ["VN", "US", "FR", "DE", "GB", "JP", "KR", "TH", "ID", "PH", "SG", "MY", "IN", "BR",
             "MX", "ES", "IT", "NL", "AU", "CA"]  # fmt: skip
HEADER = ["figure", "project", "peer", "ratio", "goal", "met", "busy (project / peer)"]


def profile(rng: random.Random, n: int) -> str:
    birthday = f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}"
    attributes = {"email": f"c{n:07d}@example.com", "first_name": rng.choice(["An", "Emma"]),
                  "birthday": birthday, "country": rng.choice(COUNTRIES),
                  "plan": rng.choice(["free", "pro", "team"]),
                  "score": round(rng.uniform(0, 100), 2)}  # fmt: skip
    return json.dumps({"id": f"c{n:07d}", "attributes": attributes}) + "\n"


def figure(
    name: str, shown: tuple[str, str], ratio: float, goal: str, *busy: float | None
) -> list[str]:
    """A row: the ratio against the goal (">= 0.5x", "<= 2x", or "-" for reference)."""
    bound = float(goal.split()[-1].rstrip("x")) if goal != "-" else None
    met = "-" if bound is None else "met" if (ratio >= bound) == (">" in goal) else "NOT met"
    return [name, *shown, f"{ratio:.2f}", goal, met, " / ".join(h.fmt(b, ".0%") for b in busy)]


async def timed(work: Awaitable[T]) -> tuple[float, float | None, T]:
    """(seconds, how busy the machine was, the result) of awaiting `work`."""
    ticks, started = h.machine_ticks(), time.perf_counter()
    result = await work
    return time.perf_counter() - started, h.busy_since(ticks), result


async def settle(run: h.Run) -> None:
    """Until the workers moved everyone inside and sent every message."""
    await run.until(lambda: not run.sql(UNSETTLED), "settled", timeout=300, every=0.2)


async def import_phase(run: h.Run, url: str, api: int) -> list[list[str]]:
    n, path = run.args.customers, run.workdir / "profiles.ndjson"
    rng = random.Random(20261201)
    path.write_text("".join(profile(rng, k) for k in range(1, n + 1)))

    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                yield chunk

    took, busy, answer = await timed(post(run, f"{url}/customers", chunks, "application/x-ndjson"))
    if answer.get("created") != n:
        raise h.Failed(f"POST /customers answered {answer}")
    rss = h.memory_mb(api) or 0.0
    copy = asyncio.to_thread(peer.copy_import, run.database_url, path, "bench")
    _, peer_busy, theirs = await timed(copy)
    shown = f"{n / took:,.0f} rows/s", f"{n / theirs:,.0f} rows/s (COPY + INSERT)"
    met = "met" if rss < 300 else "NOT met"
    return [
        figure(f"import: {n:,} profiles", shown, theirs / took, ">= 0.5x", busy, peer_busy),
        ["import: API server peak RSS", f"{rss:.0f} MB", "-", "-", "< 300 MB", met, "-"],
    ]


async def estimate_phase(run: h.Run, url: str) -> list[list[str]]:
    times: tuple[list[float], list[float]] = ([], [])
    ticks = h.machine_ticks()
    with psycopg.connect(run.database_url, autocommit=True) as connection:
        async with h.RawClient(url, run.headers) as client:
            for attempt in range(run.args.runs + 1):  # the first of each is a warm-up
                took, _, answer = await timed(client.graphql(COUNT, {"c": CONDITION}))
                counted, theirs = peer.count(connection, "bench")
                if answer["customerCount"] != counted:
                    raise h.Failed(f"customerCount says {answer}, the bare SQL {counted}")
                if attempt:
                    times[0].append(took)
                    times[1].append(theirs)
    mine, theirs = (statistics.median(t) * 1000 for t in times)
    name = f"estimate: customerCount ({counted:,} match), median of {run.args.runs}"
    shown = f"{mine:.1f} ms", f"{theirs:.1f} ms (SELECT count(*))"
    return [figure(name, shown, mine / theirs, "<= 2x", h.busy_since(ticks))]


async def segment_phase(run: h.Run, url: str) -> list[list[str]]:
    await settle(run)
    given = {"name": "May in VN", "kind": "SEGMENT_SCHEDULED", "nodes": [send()]}
    async with h.RawClient(url, run.headers) as client:
        segment = await h.journey(client, given | {"audienceCondition": CONDITION})
    insert = asyncio.to_thread(peer.insert_enrollments, run.database_url, segment, "bench")
    _, peer_busy, (entered, theirs) = await timed(insert)

    async def load() -> Any:
        async with h.RawClient(url, run.headers) as client:
            await h.journey(client, segment, "activate")
            found: dict[str, Any] = {"status": "ACTIVE"}
            while found["status"] != "CLOSED":
                await asyncio.sleep(0.01)  # the figure is read to within 10 ms
                found = (await client.graphql(STATUS, {"id": segment}))["journey"]
            return found["stats"]["entered"]

    took, busy, loaded = await timed(load())
    if loaded != entered:
        raise h.Failed(f"the journey says {loaded} entered, the bare INSERT made {entered}")
    name = f"segment load: {entered:,} customers, ACTIVATE -> CLOSED"
    shown = f"{took * 1000:,.0f} ms", f"{theirs * 1000:,.0f} ms (INSERT ... SELECT)"
    return [figure(name, shown, took / theirs, "<= 2x", busy, peer_busy)]


async def drive(run: h.Run, url: str, path: str, bodies: list[Any]) -> int:
    """Each body posted once to `path` by `--clients` clients; journeys entered, or rows."""
    left, counted = iter(bodies), [0]

    async def client_loop() -> None:
        async with h.RawClient(url, run.headers) as client:
            for body in left:
                status, answer = await client.request("POST", path, body)
                if status != 200 or "errors" in answer:
                    raise h.Failed(f"{path}: HTTP {status} {str(answer)[:300]}")
                results = answer.get("data", {}).get("trackEvents", [])
                counted[0] += answer.get("inserted", 0) + sum(len(r["entered"]) for r in results)

    await asyncio.gather(*(client_loop() for _ in range(run.args.clients)))
    return counted[0]


async def events_phase(run: h.Run, url: str) -> list[list[str]]:
    await settle(run)  # what the segment's journey still sends
    async with h.RawClient(url, run.headers) as client:
        for k in range(20):  # 5 on this event, 2 of them with a condition on its properties
            where = [{"name": "amount", "op": "GREATER_THAN", "value": 50}] if k < 2 else None
            trigger = "purchase" if k < 5 else f"other-{k}"
            await flow(client, trigger, [send()], "activate", triggerWhere=where)
    rng, n, calls = random.Random(7), run.args.customers, run.args.calls
    bodies = [{"query": TRACK, "variables": {"events": [
        {"name": "purchase", "customerId": f"c{(c * 1000 + i) % n + 1:07d}", "properties": {
            "amount": rng.randint(1, 100), "currency": rng.choice(["EUR", "VND"]),
            "sku": f"sku-{rng.randrange(500)}"}} for i in range(1000)]}} for c in range(calls)
    ]  # fmt: skip
    seconds: dict[str, tuple[float, float | None, int]] = {}
    for path, route in (("bare", "/events"), ("floor", "/graphql")):
        peer_url, _ = await run.serve(path, (f"peer_{path}.py", "--pool-size", "4"))
        seconds[path] = await timed(drive(run, peer_url, route, bodies))
        run.stop(path)
    seconds["project"] = await timed(drive(run, url, "/graphql", bodies))
    rate = {path: calls * 1000 / took for path, (took, _, _) in seconds.items()}

    def row(name: str, path: str, counted: str, goal: str) -> list[str]:
        shown = f"{rate[path]:,.0f} events/s ({seconds[path][2]:,} {counted})"
        peer = f"{rate['bare']:,.0f} events/s (multi-row INSERT)"
        busy = seconds[path][1], seconds["bare"][1]
        return figure(name, (shown, peer), rate[path] / rate["bare"], goal, *busy)

    name = f"events: {calls} x trackEvents(1,000), {run.args.clients} clients, 20 journeys"
    floor = "events: the Strawberry floor (stores the events only)"
    return [
        row(name, "project", "entries", ">= 0.5x"),
        row(floor, "floor", "journeys answered", "-"),
        await admissions(run, url),
    ]


async def admissions(run: h.Run, url: str) -> list[str]:
    """trackEvents from one client, each event admitted into 10 journeys, against the same
    admissions as multi-row INSERTs."""
    batches = run.args.event_batches
    async with h.RawClient(url, run.headers) as client:
        for _ in range(10):
            await flow(client, "visit", [send()], "activate")
        started, ticks = time.perf_counter(), h.machine_ticks()
        for batch in range(batches):
            given = [{"name": "visit", "customerId": f"v{batch}-{k}"} for k in range(1000)]
            await client.graphql(TRACK, {"events": given})
        ours, busy = batches * 1000 / (time.perf_counter() - started), h.busy_since(ticks)
    ticks = h.machine_ticks()
    theirs = await asyncio.to_thread(peer.admissions, run.database_url, batches, 10)
    shown = f"{ours:,.0f} events/s", f"{theirs:,.0f} events/s (multi-row INSERT)"
    name = f"events: {batches} x trackEvents(1,000), each admitted into 10 journeys"
    return figure(name, shown, ours / theirs, "-", busy, h.busy_since(ticks))


async def list_phase(run: h.Run, url: str) -> list[list[str]]:
    """A list's CSV upload against COPY of the same bytes; its load into a PAUSED journey;
    an ABORT with all of it inside."""
    n = run.args.customers
    csv = "id,name,birthday\n" + "".join(
        f"s{k},Customer {k},1990-05-{k % 28 + 1:02}\n" for k in range(n)
    )
    body = csv.encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    async with h.RawClient(url, run.headers) as client:
        given = {"name": "Listed", "kind": "SEGMENT_SCHEDULED", "nodes": [send()]}
        segment = await h.journey(client, given)
        took, busy, _ = await timed(post(run, f"{url}/journeys/{segment}/audience", chunks,
                                         "text/csv"))  # fmt: skip
        _, peer_busy, copy = await timed(asyncio.to_thread(peer.copy_list, run.database_url, body))
        started = time.perf_counter()
        await h.journey(client, segment, "activate", "pause")  # PAUSED loads and holds them
    entered = "SELECT entered FROM journey_stats WHERE journey_id = %s"
    await run.until(lambda: (run.sql(entered, segment) or 0) >= n, "the list loaded", every=0.2)
    load, aborted = n / (time.perf_counter() - started), await abort(run, url, segment, n)
    shown = f"{n / took:,.0f} ids/s", f"{copy:,.0f} ids/s (COPY)"
    return [
        figure(f"upload: CSV of {n:,} ids", shown, n / took / copy, ">= 0.25x", busy, peer_busy),
        ["load: the list into its journey", f"{load:,.0f} customers/s", "-", "-", "-", "-", "-"],
        [f"abort with {n:,} inside", f"{aborted:.0f} ms", "-", "-", "< 200 ms",
         "met" if aborted < 200 else "NOT met", "-"],
    ]  # fmt: skip


async def benchmark(run: h.Run) -> str:
    url, api = await run.project(run.args.workers)
    peer.fresh_schema(run.database_url).close()
    rows = await import_phase(run, url, api)
    for phase in (estimate_phase, segment_phase, events_phase, list_phase):
        h.note(phase.__name__)
        rows += await phase(run, url)
    rows.append(["peak RSS", peak_rss(run, api), "-", "-", "-", "-", "-"])
    return run.report(f"{run.args.customers:,} customers, {run.args.workers} workers", HEADER, rows)


def main() -> int:
    parser = h.parser(__doc__, "customers", workers=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="estimate: runs, median taken")
    parser.add_argument("--calls", type=int, default=100, help="events: trackEvents calls")
    parser.add_argument("--clients", type=int, default=4, help="events: concurrent clients")
    parser.add_argument("--event-batches", type=int, default=20, help="events into 10 journeys")
    return h.run("customers", parser.parse_args(), benchmark)


if __name__ == "__main__":
    sys.exit(main())
