"""Customers through journeys, each figure beside its limit (peer_audience.py) from the same
run. The helpers here serve flow.py, messages.py and customers.py too."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import harness as h
import httpx
import peer_audience

ENROLL = """mutation($id: ID!, $ids: [String!]!) {
  enrollCustomers(journeyId: $id, customerIds: $ids) { admitted } }"""
TRACK = """mutation($events: [TrackEventInput!]!) {
  trackEvents(events: $events) { entered { id } } }"""
ABORT = "mutation($id: ID!) { abortJourney(id: $id) { stats { exited } } }"
QUEUED = "SELECT count(*) FROM deliveries WHERE journey_id = %s AND customer_id = %s"
ENTERED = "SELECT entered FROM journey_stats WHERE journey_id = %s"
BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
LATENESS = """SELECT extract(epoch FROM d.created_at - e.entered_at) - 1 FROM deliveries d
  JOIN enrollments e ON e.id = d.enrollment_id WHERE d.journey_id = %s
  AND e.entered_at + interval '1 second' <= (SELECT max(created_at) FROM deliveries
  WHERE journey_id = %s)"""


def send(key: str = "offer", channel: str = "log", **text: str) -> dict[str, Any]:
    return {"key": key, "type": "SEND", "channel": channel, "template": key, **text}


async def flow(client: h.RawClient, name: str, nodes: list[Any], *moves: str, **more: Any) -> str:
    """A journey of these nodes, triggered by the event `name`, then moved by `moves`."""
    given = {"name": name, "kind": "EVENT_TRIGGERED", "triggerEvent": name, "nodes": nodes}
    return await h.journey(client, given | more, *moves)


async def enroll(client: h.RawClient, journey_id: str, customers: int) -> float:
    """`enrollCustomers` of `c0`, `c1`, ..., 10,000 a call; customers/s."""
    started = time.perf_counter()
    for start in range(0, customers, 10_000):
        ids = [f"c{n}" for n in range(start, min(customers, start + 10_000))]
        enrolled = await client.graphql(ENROLL, {"id": journey_id, "ids": ids})
        if enrolled["enrollCustomers"]["admitted"] != len(ids):
            raise h.Failed("the enrolment refused some customers")
    return customers / (time.perf_counter() - started)


async def walk(run: h.Run, url: str, journey_id: str, count: int, counter: str = "completed",
               timeout: float = 900) -> float:  # fmt: skip
    """RESUME the journey, wait until `counter` (journey_stats) reaches `count`; seconds.
    Failed deliveries, or `timeout` s, stop the run: the logs (`--keep`) say why."""
    async with h.RawClient(url, run.headers) as client:
        await h.journey(client, journey_id, "resume")
    started, query = time.perf_counter(), "SELECT {} FROM journey_stats WHERE journey_id = %s"

    def reached() -> bool:
        if run.sql(query.format("failed"), journey_id):
            raise RuntimeError(f"failed deliveries before {count} {counter}: see --keep's logs")
        return bool(run.sql(query.format(counter), journey_id) >= count)

    await run.until(reached, f"{count} {counter}", timeout)
    return time.perf_counter() - started


async def post(run: h.Run, url: str, body: Callable[[], AsyncIterator[bytes]], kind: str) -> Any:
    """A body streamed to the API (`/customers`, a list upload); its JSON answer."""
    async with httpx.AsyncClient(timeout=3600, trust_env=False) as http:
        headers = run.headers | {"Content-Type": kind}
        answer = await http.post(url, content=body(), headers=headers)
    if answer.status_code != 200:
        raise h.Failed(f"POST {url}: HTTP {answer.status_code} {answer.text[:300]}")
    return answer.json()


async def import_profiles(
    run: h.Run, url: str, count: int, attributes: Callable[[int], Any]
) -> None:
    """Profiles `c0`, `c1`, ... with `attributes(n)`, through `POST /customers`."""

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, count, 10_000):
            lines = (json.dumps({"id": f"c{n}", "attributes": attributes(n)}) + "\n"
                     for n in range(start, min(count, start + 10_000)))  # fmt: skip
            yield "".join(lines).encode()

    await post(run, f"{url}/customers", body, "application/x-ndjson")


async def abort(run: h.Run, url: str, journey_id: str, inside: int) -> float:
    """ABORT the journey, whose stats must then say `inside` exited; milliseconds it took."""
    async with h.RawClient(url, run.headers) as client:
        asked = time.perf_counter()
        aborted = (await client.graphql(ABORT, {"id": journey_id}))["abortJourney"]
        took = (time.perf_counter() - asked) * 1000
    if aborted["stats"]["exited"] != inside:
        raise h.Failed(f"the abort's stats say {aborted['stats']}, not {inside} exited")
    return took


def peak_rss(run: h.Run, api: int) -> str:
    """Peak RSS of the API process and of each worker."""
    pids = [("api", api), *((f"worker-{n}", pid) for n, pid in enumerate(run.pids("worker")))]
    return ", ".join(f"{name} {h.fmt(h.memory_mb(pid), '.0f')} MB" for name, pid in pids)


def backends(run: h.Run) -> list[int]:
    """The PostgreSQL server processes serving the run's database."""
    return [pid for (pid,) in run.rows(BACKENDS, run.args.pg_database)]


async def promptness(run: h.Run, url: str, ping: str, stop: asyncio.Event) -> list[float]:
    """Every 0.1 s a `ping` and a `tick` event; the seconds until the ping's delivery exists."""
    latencies: list[float] = []
    async with h.RawClient(url, run.headers) as client:
        while not stop.is_set():
            customer, asked = f"p{len(latencies)}", time.perf_counter()  # a new customer each
            for name in ("ping", "tick"):
                await client.graphql(TRACK, {"events": [{"name": name, "customerId": customer}]})
            await run.until(partial(run.sql, QUEUED, ping, customer), "queued", every=0.01)
            latencies.append(time.perf_counter() - asked)
            await asyncio.sleep(0.1)
    return latencies


async def benchmark(run: h.Run) -> str:
    args, n = run.args, run.args.customers
    url, api = await run.project()
    async with h.RawClient(url, run.headers) as client:
        for _ in range(args.listening):
            await flow(client, "visit", [send()], "activate")
        started = time.perf_counter()
        for batch in range(args.event_batches):
            events = [{"name": "visit", "customerId": f"v{batch}-{k}"} for k in range(1000)]
            await client.graphql(TRACK, {"events": events})
        events_rate = args.event_batches * 1000 / (time.perf_counter() - started)
        main = await flow(client, "bulk", [send()], "activate", "pause")
        ping = await flow(client, "ping", [send()], "activate")
        wait = {"key": "w", "type": "WAIT", "seconds": 1, "next": "offer"}
        tick = await flow(client, "tick", [wait, send()], "activate")
        enroll_rate = await enroll(client, main, n)
        given = {"name": "Segment", "kind": "SEGMENT_SCHEDULED", "nodes": [send()]}
        segment = await h.journey(client, given)
    listed = "".join(f"s{k},Customer {k},1990-05-{k % 28 + 1:02}\n" for k in range(n))
    csv = f"id,name,birthday\n{listed}".encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(csv), 1 << 20):
            yield csv[start : start + (1 << 20)]

    started = time.perf_counter()
    await post(run, f"{url}/journeys/{segment}/audience", chunks, "text/csv")
    upload = n / (time.perf_counter() - started)
    async with h.RawClient(url, run.headers) as client:
        await h.journey(client, segment, "activate", "pause")  # PAUSED keeps loading and holds them
    await run.start_workers(args.workers)
    started = time.perf_counter()
    await run.until(lambda: (run.sql(ENTERED, segment) or 0) >= n, "the list loaded", every=0.2)
    load = n / (time.perf_counter() - started)
    processors, database = run.pids("worker"), backends(run)
    before = h.cpu_seconds(processors), h.cpu_seconds(database)
    stop = asyncio.Event()
    watcher = asyncio.create_task(promptness(run, url, ping, stop))
    seconds = await walk(run, url, main, n, "delivered")
    database = sorted({*database, *backends(run)})  # any opened meanwhile
    spent = h.cpu_seconds(processors) - before[0], h.cpu_seconds(database) - before[1]
    cost = [cpu / n * 1e6 for cpu in spent]
    stop.set()
    latencies = await watcher
    await asyncio.sleep(2)  # the last ticks are due once the backlog is gone
    late = [float(row[0]) for row in run.rows(LATENESS, tick, main)]
    abort_ms, rss = await abort(run, url, segment, n), peak_rss(run, api)
    limit = peer_audience.admissions(run.database_url, args.event_batches, args.listening)
    copy = peer_audience.copy_list(run.database_url, csv)
    bare = peer_audience.processing(run.database_url, min(n, 200_000))
    projected = f"{1_000_000 * seconds / n:.0f} s projected"
    rows = [
        [f"events (trackEvents, {args.listening} journeys)", f"{events_rate:,.0f} events/s",
         f"{limit:,.0f} events/s (multi-row INSERT)", "-"],
        ["enrolment (enrollCustomers)", f"{enroll_rate:,.0f} customers/s", "-", "-"],
        [f"upload: CSV of {n:,} ids", f"{upload:,.0f} ids/s", f"{copy:,.0f} ids/s (COPY)",
         f">= 0.25x: {upload / copy:.2f}x"],
        ["load: the list into its journey", f"{load:,.0f} customers/s", "-", "-"],
        ["processing: 1-step SEND", f"{n / seconds:,.0f} steps/s ({seconds:.1f} s)",
         f"{bare:,.0f} steps/s (one bare loop)", f"1,000,000 in < 120 s: {projected}"],
        ["CPU a step", f"workers {cost[0]:.0f} us, PostgreSQL {cost[1]:.0f} us", "-", "-"],
        ["trackEvent -> queued", f"{h.ms(latencies)} ({len(latencies)})", "-", "p99 < 1 s"],
        ["WAIT due -> next step", f"{h.ms(late)} ({len(late)})", "-", "p99 < 1 s"],
        [f"abort with {n:,} inside", f"{abort_ms:.0f} ms", "-", "< 200 ms"],
        ["peak RSS", rss, "-", "< 300 MB each"],
    ]  # fmt: skip
    header = ["phase", "project", "peer or limit", "goal"]
    return run.report(f"{n:,} customers, {args.workers} workers", header, rows)


def main() -> int:
    parser = h.parser(__doc__, "audience", workers=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--listening", type=int, default=10, help="journeys each event matches")
    parser.add_argument("--event-batches", type=int, default=20)
    return h.run("audience", parser.parse_args(), benchmark)


if __name__ == "__main__":
    sys.exit(main())
