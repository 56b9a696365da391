"""Customers' data: import, estimate, segment load, events, a list, each beside its raw peer."""

import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import harness as h
import peer_sql as peer
import psycopg
from flow import TRACK, abort, events, flow, peak_rss, post, send

T = TypeVar("T")
MAY = {"attribute": {"name": "birthday", "op": "MONTH_IS", "value": 5}}
CONDITION = {"all": [MAY, {"attribute": {"name": "country", "op": "EQUALS", "value": "VN"}}]}
COUNT = "query($c: ConditionInput!) { customerCount(condition: $c) }"
STATUS = "query($id: ID!) { journey(id: $id) { status stats { entered } } }"
ENTERED = "SELECT entered FROM journey_stats WHERE journey_id = %s"
UNSETTLED = """SELECT (SELECT count(*) FROM enrollments WHERE state = 'INSIDE')
  + (SELECT count(*) FROM deliveries WHERE state IN ('QUEUED', 'HANDED_OVER'))"""
SEGMENT = {"kind": "SEGMENT_SCHEDULED", "nodes": [send()]}  # a journey that sends once
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
    started = time.perf_counter()
    result = await work
    return time.perf_counter() - started, result


async def import_phase(run: h.Run, url: str, api: int) -> list[list[str]]:
    n, rng = run.args.customers, random.Random(20261201)
    body = "".join(profile(rng, k) for k in range(1, n + 1)).encode()
    took, answer = await timed(post(run, f"{url}/customers", body, "application/x-ndjson"))
    if answer.get("created") != n:
        raise h.Failed(f"POST /customers answered {answer}")
    rss = h.memory_mb(api) or 0.0
    theirs = await asyncio.to_thread(peer.copy_import, run.database_url, body)
    return [
        [f"import: {n:,} profiles", f"{n / took:,.0f} rows/s",
         f"{n / theirs:,.0f} rows/s (COPY + INSERT)", h.goal(theirs / took, ">=", 0.5)],
        ["import: API server peak RSS", f"{rss:.0f} MB", "-", h.goal(rss, "<=", 300, " MB")],
    ]  # fmt: skip


async def estimate_phase(run: h.Run, url: str) -> list[list[str]]:
    times: list[tuple[float, float]] = []  # (ours, the bare SQL's) per run, the first a warm-up
    with psycopg.connect(run.database_url, autocommit=True) as connection:
        async with h.RawClient(url, run.headers) as client:
            for _ in range(run.args.runs + 1):
                took, answer = await timed(client.graphql(COUNT, {"c": CONDITION}))
                counted, theirs = peer.count(connection)
                if answer["customerCount"] != counted:
                    raise h.Failed(f"customerCount says {answer}, the bare SQL {counted}")
                times.append((took, theirs))
    ours, theirs = (statistics.median(column) * 1000 for column in zip(*times[1:], strict=True))
    name = f"estimate: customerCount ({counted:,} match), median of {run.args.runs}"
    shown = [f"{ours:.1f} ms", f"{theirs:.1f} ms (SELECT count(*))"]
    return [[name, *shown, h.goal(ours / theirs, "<=", 2)]]


async def segment_phase(run: h.Run, url: str) -> list[list[str]]:
    # The run's first journey: nothing is inside or queued yet, the workers are idle.
    async with h.RawClient(url, run.headers) as client:
        given = SEGMENT | {"name": "May in VN", "audienceCondition": CONDITION}
        segment = await h.journey(client, given)
        entered, bare = await asyncio.to_thread(peer.insert_enrollments, run.database_url, segment)
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
    shown = [f"{took * 1000:,.0f} ms", f"{bare * 1000:,.0f} ms (INSERT ... SELECT)"]
    return [[name, *shown, h.goal(took / bare, "<=", 2)]]


async def drive(run: h.Run, url: str, path: str, bodies: list[Any]) -> int:
    """Each body posted once to `path` by `--clients` clients; journeys entered, or rows."""
    left = iter(bodies)  # shared: each client posts the next body left

    async def client() -> int:
        counted = 0
        async with h.RawClient(url, run.headers) as http:
            for body in left:
                status, answer = await http.request("POST", path, body)
                if status != 200 or "errors" in answer:
                    raise h.Failed(f"{path}: HTTP {status} {str(answer)[:300]}")
                results = answer.get("data", {}).get("trackEvents", [])
                counted += answer.get("inserted", 0) + sum(len(r["entered"]) for r in results)
        return counted

    return sum(await asyncio.gather(*(client() for _ in range(run.args.clients))))


async def events_phase(run: h.Run, url: str) -> list[list[str]]:
    # The workers first finish the segment's journey: everyone moved on, every message sent.
    await run.until(lambda: not run.sql(UNSETTLED), "settled", timeout=300, every=0.2)
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
    seconds: dict[str, tuple[float, int]] = {}  # (seconds, what drive counted) of each server
    for server, route in (("bare", "/events"), ("floor", "/graphql")):
        peer_url, _ = await run.serve(server, (f"peer_{server}.py", "--pool-size", "4"))
        seconds[server] = await timed(drive(run, peer_url, route, bodies))
        run.stop(server)
    seconds["project"] = await timed(drive(run, url, "/graphql", bodies))
    rate = {server: calls * 1000 / took for server, (took, _) in seconds.items()}
    bare = f"{rate['bare']:,.0f} events/s (multi-row INSERT)"
    name = f"events: {calls} x trackEvents(1,000), {run.args.clients} clients, 20 journeys"
    return [
        [name, f"{rate['project']:,.0f} events/s ({seconds['project'][1]:,} entries)", bare,
         h.goal(rate["project"] / rate["bare"], ">=", 0.5)],
        ["events: the Strawberry floor (stores the events only)",
         f"{rate['floor']:,.0f} events/s ({seconds['floor'][1]:,} journeys answered)", bare,
         f"- ({rate['floor'] / rate['bare']:.2f}x)"],
    ]  # fmt: skip


async def admissions_phase(run: h.Run, url: str) -> list[list[str]]:
    batches = run.args.event_batches
    async with h.RawClient(url, run.headers) as client:
        for _ in range(10):
            await flow(client, "visit", [send()], "activate")
        took, _ = await timed(events(client, "visit", range(batches * 1000)))  # new customers
        ours = batches * 1000 / took
    theirs = await asyncio.to_thread(peer.admissions, run.database_url, batches, 10)
    name = f"events: {batches} x trackEvents(1,000), each admitted into 10 journeys"
    shown = [f"{ours:,.0f} events/s", f"{theirs:,.0f} events/s (multi-row INSERT)"]
    return [[name, *shown, f"- ({ours / theirs:.2f}x)"]]


async def list_phase(run: h.Run, url: str) -> list[list[str]]:
    n = run.args.customers
    listed = "".join(f"s{k},Customer {k},1990-05-{k % 28 + 1:02}\n" for k in range(n))
    body = f"id,name,birthday\n{listed}".encode()
    async with h.RawClient(url, run.headers) as client:
        segment = await h.journey(client, SEGMENT | {"name": "Listed"})
        took, _ = await timed(post(run, f"{url}/journeys/{segment}/audience", body, "text/csv"))
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
    for phase in (estimate_phase, segment_phase, events_phase, admissions_phase, list_phase):
        h.note(phase.__name__)
        rows += await phase(run, url)
    rows.append(["peak RSS", peak_rss(run, api), "-", "-"])
    settings = f"{run.args.customers:,} customers, {run.args.workers} workers"
    return run.report(settings, ["figure", "project", "peer or limit", "goal"], rows)


if __name__ == "__main__":
    h.main(__doc__, "customers", benchmark, True, customers=1_000_000,
           runs=(5, "estimate: runs, median taken"), calls=(100, "events: trackEvents calls"),
           clients=(4, "events: concurrent clients"),
           event_batches=(20, "events: trackEvents calls into 10 journeys"))  # fmt: skip
