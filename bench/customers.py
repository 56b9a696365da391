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
ENTERED = "SELECT entered FROM journey_stats WHERE journey_id = %s"
UNSETTLED = """SELECT (SELECT count(*) FROM enrollments WHERE state = 'INSIDE')
  + (SELECT count(*) FROM deliveries WHERE state IN ('QUEUED', 'HANDED_OVER'))"""
COUNTRIES = ["VN", "US", "FR", "DE", "GB", "JP", "KR", "TH", "ID", "PH", "SG", "MY", "IN", "BR",
             "MX", "ES", "IT", "NL", "AU", "CA"]  # fmt: skip


def profile(rng: random.Random, n: int) -> str:
    birthday = f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}"
    attributes = {"email": f"c{n:07d}@example.com", "first_name": rng.choice(["An", "Emma"]),
                  "birthday": birthday, "country": rng.choice(COUNTRIES),
                  "plan": rng.choice(["free", "pro", "team"]),
                  "score": round(rng.uniform(0, 100), 2)}  # fmt: skip
    return json.dumps({"id": f"c{n:07d}", "attributes": attributes}) + "\n"


async def timed(work: Awaitable[T]) -> tuple[float, T]:
    """(seconds, the result) of awaiting `work`."""
    started = time.perf_counter()
    result = await work
    return time.perf_counter() - started, result


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

    took, answer = await timed(post(run, f"{url}/customers", chunks, "application/x-ndjson"))
    if answer.get("created") != n:
        raise h.Failed(f"POST /customers answered {answer}")
    rss = h.memory_mb(api) or 0.0
    theirs = await asyncio.to_thread(peer.copy_import, run.database_url, path, "bench")
    return [
        [f"import: {n:,} profiles", f"{n / took:,.0f} rows/s",
         f"{n / theirs:,.0f} rows/s (COPY + INSERT)", h.goal(theirs / took, ">=", 0.5)],
        ["import: API server peak RSS", f"{rss:.0f} MB", "-", h.goal(rss, "<=", 300, " MB")],
    ]  # fmt: skip


async def estimate_phase(run: h.Run, url: str) -> list[list[str]]:
    times: tuple[list[float], list[float]] = ([], [])
    with psycopg.connect(run.database_url, autocommit=True) as connection:
        async with h.RawClient(url, run.headers) as client:
            for attempt in range(run.args.runs + 1):  # the first of each is a warm-up
                took, answer = await timed(client.graphql(COUNT, {"c": CONDITION}))
                counted, theirs = peer.count(connection, "bench")
                if answer["customerCount"] != counted:
                    raise h.Failed(f"customerCount says {answer}, the bare SQL {counted}")
                if attempt:
                    times[0].append(took)
                    times[1].append(theirs)
    mine, theirs = (statistics.median(t) * 1000 for t in times)
    name = f"estimate: customerCount ({counted:,} match), median of {run.args.runs}"
    shown = [f"{mine:.1f} ms", f"{theirs:.1f} ms (SELECT count(*))"]
    return [[name, *shown, h.goal(mine / theirs, "<=", 2)]]


async def segment_phase(run: h.Run, url: str) -> list[list[str]]:
    await settle(run)
    given = {"name": "May in VN", "kind": "SEGMENT_SCHEDULED", "nodes": [send()]}
    async with h.RawClient(url, run.headers) as client:
        segment = await h.journey(client, given | {"audienceCondition": CONDITION})
        insert = asyncio.to_thread(peer.insert_enrollments, run.database_url, segment, "bench")
        entered, theirs = await insert
        started = time.perf_counter()
        await h.journey(client, segment, "activate")
        found: dict[str, Any] = {"status": "ACTIVE"}
        while found["status"] != "CLOSED":
            await asyncio.sleep(0.01)  # the figure is read to within 10 ms
            found = (await client.graphql(STATUS, {"id": segment}))["journey"]
        took = time.perf_counter() - started
    if found["stats"]["entered"] != entered:
        raise h.Failed(f"the journey says {found['stats']}, the bare INSERT made {entered}")
    name = f"segment load: {entered:,} customers, ACTIVATE -> CLOSED"
    shown = [f"{took * 1000:,.0f} ms", f"{theirs * 1000:,.0f} ms (INSERT ... SELECT)"]
    return [[name, *shown, h.goal(took / theirs, "<=", 2)]]


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
    seconds: dict[str, tuple[float, int]] = {}
    for path, route in (("bare", "/events"), ("floor", "/graphql")):
        peer_url, _ = await run.serve(path, (f"peer_{path}.py", "--pool-size", "4"))
        seconds[path] = await timed(drive(run, peer_url, route, bodies))
        run.stop(path)
    seconds["project"] = await timed(drive(run, url, "/graphql", bodies))
    rate = {path: calls * 1000 / took for path, (took, _) in seconds.items()}
    bare = f"{rate['bare']:,.0f} events/s (multi-row INSERT)"
    name = f"events: {calls} x trackEvents(1,000), {run.args.clients} clients, 20 journeys"
    return [
        [name, f"{rate['project']:,.0f} events/s ({seconds['project'][1]:,} entries)", bare,
         h.goal(rate["project"] / rate["bare"], ">=", 0.5)],
        ["events: the Strawberry floor (stores the events only)",
         f"{rate['floor']:,.0f} events/s ({seconds['floor'][1]:,} journeys answered)", bare,
         f"- ({rate['floor'] / rate['bare']:.2f}x)"],
        await admissions(run, url),
    ]  # fmt: skip


async def admissions(run: h.Run, url: str) -> list[str]:
    """trackEvents from one client, each event admitted into 10 journeys, against the same
    admissions as multi-row INSERTs."""
    batches = run.args.event_batches
    async with h.RawClient(url, run.headers) as client:
        for _ in range(10):
            await flow(client, "visit", [send()], "activate")
        started = time.perf_counter()
        for batch in range(batches):
            given = [{"name": "visit", "customerId": f"v{batch}-{k}"} for k in range(1000)]
            await client.graphql(TRACK, {"events": given})
        ours = batches * 1000 / (time.perf_counter() - started)
    theirs = await asyncio.to_thread(peer.admissions, run.database_url, batches, 10)
    name = f"events: {batches} x trackEvents(1,000), each admitted into 10 journeys"
    shown = [f"{ours:,.0f} events/s", f"{theirs:,.0f} events/s (multi-row INSERT)"]
    return [name, *shown, f"- ({ours / theirs:.2f}x)"]


async def list_phase(run: h.Run, url: str) -> list[list[str]]:
    """A list's CSV upload against COPY of the same bytes; its load into a PAUSED journey;
    an ABORT with all of it inside."""
    n = run.args.customers
    listed = "".join(f"s{k},Customer {k},1990-05-{k % 28 + 1:02}\n" for k in range(n))
    body = f"id,name,birthday\n{listed}".encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    async with h.RawClient(url, run.headers) as client:
        given = {"name": "Listed", "kind": "SEGMENT_SCHEDULED", "nodes": [send()]}
        segment = await h.journey(client, given)
        took, _ = await timed(post(run, f"{url}/journeys/{segment}/audience", chunks, "text/csv"))
        copy = await asyncio.to_thread(peer.copy_list, run.database_url, body)
        started = time.perf_counter()
        await h.journey(client, segment, "activate", "pause")  # PAUSED loads and holds them
    await run.until(lambda: (run.sql(ENTERED, segment) or 0) >= n, "the list loaded", every=0.2)
    load, aborted = n / (time.perf_counter() - started), await abort(run, url, segment, n)
    return [
        [f"upload: CSV of {n:,} ids", f"{n / took:,.0f} ids/s", f"{copy:,.0f} ids/s (COPY)",
         h.goal(n / took / copy, ">=", 0.25)],
        ["load: the list into its journey", f"{load:,.0f} customers/s", "-", "-"],
        [f"abort with {n:,} inside", f"{aborted:.0f} ms", "-", h.goal(aborted, "<=", 200, " ms")],
    ]  # fmt: skip


async def benchmark(run: h.Run) -> str:
    url, api = await run.project(run.args.workers)
    peer.fresh_schema(run.database_url).close()
    rows = await import_phase(run, url, api)
    for phase in (estimate_phase, segment_phase, events_phase, list_phase):
        h.note(phase.__name__)
        rows += await phase(run, url)
    rows.append(["peak RSS", peak_rss(run, api), "-", "-"])
    settings = f"{run.args.customers:,} customers, {run.args.workers} workers"
    return run.report(settings, ["figure", "project", "peer or limit", "goal"], rows)


if __name__ == "__main__":
    parser = h.parser(__doc__, "customers", workers=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="estimate: runs, median taken")
    parser.add_argument("--calls", type=int, default=100, help="events: trackEvents calls")
    parser.add_argument("--clients", type=int, default=4, help="events: concurrent clients")
    parser.add_argument("--event-batches", type=int, default=20, help="events into 10 journeys")
    sys.exit(h.run(parser.parse_args(), benchmark))
