"""Customers through journeys on PostgreSQL with workers: a line, a flow with branches,
customers waiting for an event, an abort (bench/README.md). Its helpers serve customers.py and
messages.py too."""

import asyncio
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import harness as h
import httpx
import peer_sql

ENROLL = """mutation($id: ID!, $ids: [String!]!) {
  enrollCustomers(journeyId: $id, customerIds: $ids) { admitted } }"""
TRACK = """mutation($events: [TrackEventInput!]!) {
  trackEvents(events: $events) { entered { id } } }"""
ABORT = "mutation($id: ID!) { abortJourney(id: $id) { stats { exited } } }"
QUEUED = "SELECT count(*) FROM deliveries WHERE journey_id = %s AND customer_id = %s"
LATENESS = """SELECT extract(epoch FROM d.created_at - e.entered_at) - 1 FROM deliveries d
  JOIN enrollments e ON e.id = d.enrollment_id WHERE d.journey_id = %s
  AND e.entered_at + interval '1 second' <= (SELECT max(created_at) FROM deliveries
  WHERE journey_id = %s)"""
STATS = "SELECT {} FROM journey_stats WHERE journey_id = %s"
COUNTER = "SELECT {} FROM node_counters WHERE journey_id = %s AND branch = ''"
THANKS = "SELECT customer_id, extract(epoch FROM created_at) FROM deliveries WHERE "
THANKS += "journey_id = %s AND node_key = 'thanks'"
MOVED = 10_000  # customers released, and customers converted


def send(key: str = "offer", channel: str = "log", **text: str) -> dict[str, Any]:
    return {"key": key, "type": "SEND", "channel": channel, "template": key, **text}


BRANCHING: list[dict[str, Any]] = [
    {"key": "ab", "type": "SPLIT", "branches": [
        {"key": "a", "percent": 50, "next": "vip"}, {"key": "b", "percent": 50, "next": "sb"}]},
    {"key": "vip", "type": "CONDITION", "yes": "sy", "no": "w",
     "condition": {"attribute": {"name": "plan", "op": "EQUALS", "value": "vip"}}},
    send("sy"),
    {"key": "w", "type": "WAIT_FOR_EVENT", "event": "buy", "timeoutSeconds": 10,
     "next": None, "onTimeout": "sw"},
    send("sw"), send("sb"),
]  # fmt: skip
WAITING: list[dict[str, Any]] = [
    {"key": "w", "type": "WAIT_FOR_EVENT", "event": "buy", "timeoutSeconds": 86400,
     "next": "thanks", "onTimeout": None}, send("thanks"),
]  # fmt: skip


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


async def walk(
    run: h.Run, url: str, journey_id: str, count: int, counter: str = "completed"
) -> float:
    """Seconds from RESUME until `counter` (journey_stats) reaches `count`; none may fail."""
    async with h.RawClient(url, run.headers) as client:
        await h.journey(client, journey_id, "resume")
    started = time.perf_counter()

    def reached() -> bool:
        if run.sql(STATS.format("failed"), journey_id):
            raise RuntimeError(f"failed deliveries before {count} {counter}: see --keep's logs")
        return bool(run.sql(STATS.format(counter), journey_id) >= count)

    await run.until(reached, f"{count} {counter}")
    return time.perf_counter() - started


async def post(run: h.Run, url: str, body: bytes, kind: str) -> Any:
    """A body sent to the API (`/customers`, a list upload); its JSON answer."""
    async with httpx.AsyncClient(timeout=3600, trust_env=False) as http:
        answer = await http.post(url, content=body, headers=run.headers | {"Content-Type": kind})
    if answer.status_code != 200:
        raise h.Failed(f"POST {url}: HTTP {answer.status_code} {answer.text[:300]}")
    return answer.json()


async def import_profiles(
    run: h.Run, url: str, count: int, attributes: Callable[[int], Any]
) -> None:
    """Profiles `c0`, `c1`, ... with `attributes(n)`, through `POST /customers`."""
    lines = (json.dumps({"id": f"c{n}", "attributes": attributes(n)}) + "\n" for n in range(count))
    await post(run, f"{url}/customers", "".join(lines).encode(), "application/x-ndjson")


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


async def events(client: h.RawClient, name: str, customers: range) -> list[tuple[float, float]]:
    """`trackEvents` of `name`, 1,000 a call: (wall-clock start, seconds) of each one's call."""
    timed = []
    for start in range(customers.start, customers.stop, 1000):
        batch = range(start, min(customers.stop, start + 1000))
        began, asked = time.time(), time.perf_counter()
        given = [{"name": name, "customerId": f"c{n}"} for n in batch]
        await client.graphql(TRACK, {"events": given})
        timed += [(began, time.perf_counter() - asked)] * len(batch)
    return timed


async def line_phase(
    run: h.Run, url: str, line: str, ping: str, tick: str
) -> tuple[float, list[list[str]]]:
    """The line's walk, its CPU a step, the events' promptness meanwhile: (seconds, rows)."""
    n, processors, database = run.args.customers, run.pids("worker"), run.backends()
    before = h.cpu_seconds(processors), h.cpu_seconds(database)
    stop = asyncio.Event()
    watcher = asyncio.create_task(promptness(run, url, ping, stop))
    seconds = await walk(run, url, line, n)
    database = sorted({*database, *run.backends()})  # any opened meanwhile
    spent = h.cpu_seconds(processors) - before[0], h.cpu_seconds(database) - before[1]
    cost = [cpu / n * 1e6 for cpu in spent]
    stop.set()
    latencies = await watcher
    await asyncio.sleep(2)  # the last ticks are due once the backlog is gone
    late = [float(row[0]) for row in run.rows(LATENESS, tick, line)]
    bare = peer_sql.processing(run.database_url, min(n, 200_000))
    p99 = [h.percentile(values, 0.99) * 1000 for values in (latencies, late)]
    return seconds, [
        [f"line: {n:,} through one SEND", f"{n / seconds:,.0f} steps/s ({seconds:.1f} s)",
         f"{bare:,.0f} steps/s (one bare loop)",
         "1,000,000 " + h.goal(1_000_000 * seconds / n, "<=", 120, " s")],
        ["CPU a step", f"workers {cost[0]:.0f} us, PostgreSQL {cost[1]:.0f} us", "-", "-"],
        ["trackEvent -> queued", f"{h.ms(latencies)} ({len(latencies)})", "-",
         "p99 " + h.goal(p99[0], "<=", 1000, " ms")],
        ["WAIT due -> next step", f"{h.ms(late)} ({len(late)})", "-",
         "p99 " + h.goal(p99[1], "<=", 1000, " ms")],
    ]  # fmt: skip


async def benchmark(run: h.Run) -> str:
    args, n, waiting = run.args, run.args.customers, run.args.waiting
    if waiting <= 2 * MOVED:
        raise SystemExit(f"--waiting must be above {2 * MOVED}")
    url, api = await run.project()
    async with h.RawClient(url, run.headers, timeout=600) as client:
        await import_profiles(run, url, max(n, waiting), lambda k: {"plan": ("free", "vip")[k % 2]})
        ping = await flow(client, "ping", [send()], "activate")
        wait = {"key": "w", "type": "WAIT", "seconds": 1, "next": "offer"}
        tick = await flow(client, "tick", [wait, send()], "activate")
        line = await flow(client, "line", [send()], "activate", "pause")
        branching = await flow(client, "flow", BRANCHING, "activate", "pause")
        held = await flow(client, "waiting", WAITING, "activate", "pause", goalEvent="quit")
        enrolment = await enroll(client, line, n)
        await enroll(client, branching, n)
        await enroll(client, held, waiting)
    await run.start_workers(args.workers)
    line_seconds, rows = await line_phase(run, url, line, ping, tick)
    flow_seconds = await walk(run, url, branching, n)
    applied = int(run.sql(COUNTER.format("sum(reached)"), branching))
    await walk(run, url, held, waiting, "entered")
    at = COUNTER.format("at") + " AND node_key = 'w'"
    await run.until(lambda: (run.sql(at, held) or 0) >= waiting, "all waiting")  # before events
    async with h.RawClient(url, run.headers, timeout=600) as client:
        released = await events(client, "buy", range(0, MOVED))
        converted = await events(client, "quit", range(MOVED, 2 * MOVED))
    delivered = STATS.format("delivered")
    await run.until(lambda: run.sql(delivered, held) >= MOVED, "the releases delivered")
    created = dict(run.rows(THANKS, held))
    release = [float(created[f"c{k}"]) - began for k, (began, _) in enumerate(released)]
    inside, flow_rate, line_rate = waiting - 2 * MOVED, applied / flow_seconds, n / line_seconds
    rows += [
        [f"enrolment: {n:,} (enrollCustomers)", f"{enrolment:,.0f} customers/s", "-", "-"],
        [f"flow: {n:,} through SPLIT, CONDITION, WAIT_FOR_EVENT, SEND",
         f"{flow_rate:,.0f} node applications/s ({applied:,} in {flow_seconds:.1f} s)",
         f"{line_rate:,.0f} steps/s (line)", h.goal(flow_rate / line_rate, ">=", 0.75)],
        [f"release: {MOVED:,} of {waiting:,} waiting", h.ms(release), "-", "p99 < 1,000 ms"],
        [f"goal exit: {MOVED:,}", h.ms([took for _, took in converted]), "-", "p99 < 1,000 ms"],
        [f"abort with {inside:,} inside", f"{await abort(run, url, held, inside):.0f} ms", "-",
         "< 200 ms"],
        ["peak RSS", peak_rss(run, api), "-", "< 300 MB each"],
    ]  # fmt: skip
    settings = f"{n:,} customers, {waiting:,} waiting, {args.workers} workers"
    return run.report(settings, ["phase", "project", "compared with", "goal"], rows)


if __name__ == "__main__":
    h.main(__doc__, "flow", benchmark, True, customers=1_000_000, waiting=1_000_000)
