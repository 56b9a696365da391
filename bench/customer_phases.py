"""The four phases of bench/customers.py, each a project figure beside its peer's from the
same run (peer_customers.py, peer_events.py); customers.py writes the data, starts the
processes and prints the report.

* import: the NDJSON file streamed to `POST /customers` (end to end, the API server's peak
  RSS after it) against COPY into a staging table + one INSERT ... ON CONFLICT DO UPDATE;
* estimate: `customerCount(condition)` against `SELECT count(*)` of the same rows, the runs
  interleaved, a warm-up of each first; the counts must agree;
* segment: ACTIVATE of a SEGMENT_SCHEDULED journey with that audienceCondition until it is
  CLOSED (AUDIENCE_LOADED), against one INSERT ... SELECT into a copy of the enrollments;
  `stats.entered` must equal the peer's rows;
* events: the same trackEvents bodies to the project, to the bare handler and to the
  Strawberry floor (peer_floor.py: the same GraphQL in and out, the events stored, nothing
  else), by `--clients` concurrent keep-alive clients each taking the next body.

A peer runs before its project part, and the segment and events phases first wait for the
workers to be idle, so the workers' processing of the project's entries never overlaps a
peer's measure (it may overlap the project's own: the events phase's entries are sent while
the calls go on, as they would be).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness as h
import httpx
from audience import peak_rss_mb, sql_value
from peer_customers import Counting, copy_import, insert_enrollments

WORKSPACE = "bench"  # harness.prepare's token
MAY = {"attribute": {"name": "birthday", "op": "MONTH_IS", "value": 5}}
CONDITION = {"all": [MAY, {"attribute": {"name": "country", "op": "EQUALS", "value": "VN"}}]}
COUNT = "query($c: ConditionInput!) { customerCount(condition: $c) }"
CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
STATUS = "query($id: ID!) { journey(id: $id) { status stats { entered } } }"
TRACK = "mutation($events: [TrackEventInput!]!) { trackEvents(events: $events) { entered { id } } }"
SEND = [{"type": "SEND", "channel": "log", "template": "offer"}]
UNSETTLED = (
    "SELECT (SELECT count(*) FROM enrollments WHERE state = 'INSIDE') + (SELECT count(*) "
    "FROM deliveries WHERE state IN ('QUEUED', 'HANDED_OVER'))"
)


@dataclass
class Figure:
    name: str
    project: str
    peer: str
    ratio: float | None  # project/peer, of a rate or of a time as the goal says
    goal: str  # ">= 0.5x" or "<= 2x" (of the ratio), or "< 300 MB" (of values["mb"])
    busy: str = "-"  # machine busy during the project's part / the peer's
    values: dict[str, Any] = field(default_factory=dict)
    met: bool | None = None

    def __post_init__(self) -> None:
        op, _, bound = self.goal.partition(" ")
        value = self.values.get("mb") if self.ratio is None else self.ratio
        if value is not None and self.goal != "-":  # "-": shown for reference
            limit = float(bound.rstrip("x MB"))
            self.met = {">=": value >= limit, "<=": value <= limit, "<": value < limit}[op]


@dataclass
class Run:
    args: argparse.Namespace
    setup: h.Setup
    api: h.Server
    processes: h.Processes
    profiles: Path

    def client(self, base_url: str | None = None) -> Any:
        """A new keep-alive connection: one kept from an earlier phase may have idled out."""
        return h.open_client("raw", base_url or self.api.url, self.setup.headers, timeout=600)


class Span:
    """Seconds, and how busy the machine was, from its creation to `stop()`."""

    def __init__(self) -> None:
        self.ticks, self.started = h.machine_ticks(), time.perf_counter()

    def stop(self) -> tuple[float, float | None]:
        return time.perf_counter() - self.started, h.busy_between(self.ticks, h.machine_ticks())


def busy(project: float | None, peer: float | None) -> str:
    return f"{h.fmt(project, '.0%')} / {h.fmt(peer, '.0%')}"


async def chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            yield chunk


async def import_phase(run: Run) -> list[Figure]:
    n, span, headers = run.args.customers, Span(), run.setup.headers
    async with httpx.AsyncClient(timeout=3600, trust_env=False) as http:
        answer = await http.post(
            f"{run.api.url}/customers",
            content=chunks(run.profiles),
            headers={**headers, "Content-Type": "application/x-ndjson"},
        )
    seconds, project_busy = span.stop()
    if answer.status_code != 200 or answer.json().get("created") != n:
        raise h.Failed(f"POST /customers: HTTP {answer.status_code} {answer.text[:300]}")
    rss, span = peak_rss_mb(run.api.pid), Span()
    url = run.setup.database.url
    peer = await asyncio.to_thread(copy_import, url, run.profiles, WORKSPACE)
    shown = f"{n / seconds:,.0f} rows/s ({seconds:.1f} s)"
    peer_shown = f"{n / peer:,.0f} rows/s ({peer:.1f} s, COPY + INSERT)"
    values = {"seconds": seconds, "peer_seconds": peer}
    return [
        Figure(f"import: {n:,} profiles (NDJSON)", shown, peer_shown, peer / seconds,
               ">= 0.5x", busy(project_busy, span.stop()[1]), values),
        Figure("import: API server peak RSS", f"{h.fmt(rss, '.0f')} MB", "-", None, "< 300 MB",
               values={"mb": rss}),
    ]  # fmt: skip


async def estimate_phase(run: Run) -> list[Figure]:
    counting = Counting(run.setup.database.url, WORKSPACE)
    times: tuple[list[float], list[float]] = ([], [])
    span = Span()
    try:
        async with run.client() as client:
            for attempt in range(run.args.runs + 1):  # the first of each is a warm-up
                started = time.perf_counter()
                count = (await h.graphql(client, COUNT, {"c": CONDITION}))["customerCount"]
                mine = time.perf_counter() - started
                peer_count, theirs = counting.once()
                if attempt:
                    times[0].append(mine)
                    times[1].append(theirs)
    finally:
        counting.close()
    if count != peer_count:
        raise h.Failed(f"customerCount says {count}, the bare SQL {peer_count}")
    project, peer = (statistics.median(t) * 1000 for t in times)
    name = f"estimate: customerCount ({count:,} match), median of {run.args.runs}"
    values = {"ms": project, "peer_ms": peer, "count": count}
    peer_shown = f"{peer:.1f} ms (SELECT count(*))"
    both = f"{h.fmt(span.stop()[1], '.0%')} (both)"
    return [Figure(name, f"{project:.1f} ms", peer_shown, project / peer, "<= 2x", both, values)]


async def segment_phase(run: Run) -> list[Figure]:
    await settle(run)
    given = {"name": "May in VN", "kind": "SEGMENT_SCHEDULED", "steps": SEND,
             "audienceCondition": CONDITION}  # fmt: skip
    async with run.client() as client:
        journey_id = (await h.graphql(client, CREATE, {"input": given}))["createJourney"]["id"]
    span, url = Span(), run.setup.database.url  # the peer first: nothing else runs meanwhile
    rows, peer = await asyncio.to_thread(insert_enrollments, url, journey_id, WORKSPACE)
    peer_busy = span.stop()[1]
    async with run.client() as client:
        span = Span()
        await h.graphql(client, ACTIVATE, {"id": journey_id})
        while True:
            found = (await h.graphql(client, STATUS, {"id": journey_id}))["journey"]
            if found["status"] == "CLOSED":
                break
            run.processes.check_alive()
            if found["status"] not in ("ACTIVE", "SCHEDULED") or span.stop()[0] > 600:
                raise h.Failed(f"the segment journey is {found} after {span.stop()[0]:.0f} s")
            await asyncio.sleep(0.01)  # the figure is read to within 10 ms
        seconds, project_busy = span.stop()
    if found["stats"]["entered"] != rows:
        raise h.Failed(f"the journey says {found['stats']} entered, the bare INSERT made {rows}")
    name = f"segment load: {rows:,} customers, ACTIVATE -> CLOSED"
    shown, peer_shown = f"{seconds * 1000:,.0f} ms", f"{peer * 1000:,.0f} ms (INSERT ... SELECT)"
    values = {"seconds": seconds, "peer_seconds": peer, "entered": rows}
    return [Figure(name, shown, peer_shown, seconds / peer, "<= 2x",
                   busy(project_busy, peer_busy), values)]  # fmt: skip


async def settle(run: Run, limit: float = 300) -> None:
    """Until the workers have moved every customer inside and sent every message."""
    started = time.perf_counter()
    while sql_value(run.setup, UNSETTLED) and time.perf_counter() - started < limit:
        await asyncio.sleep(0.2)


async def drive(
    run: Run, url: str, path: str, bodies: list[Any], check: Callable[[Any], None]
) -> tuple[float, float | None]:
    """Each body posted once to `path`, by `--clients` concurrent keep-alive clients."""
    left = iter(bodies)

    async def client_loop() -> None:
        async with run.client(url) as client:
            for body in left:
                response = await client.post(path, json=body)
                if response.status_code != 200:
                    raise h.Failed(f"{path}: HTTP {response.status_code} {response.text[:300]}")
                check(response.json())

    span = Span()
    await asyncio.gather(*(client_loop() for _ in range(run.args.clients)))
    return span.stop()


def event_bodies(calls: int, customers: int) -> list[dict[str, Any]]:
    rng = random.Random(7)

    def event(n: int) -> dict[str, Any]:
        amount, currency = rng.randint(1, 100), rng.choice(["EUR", "VND"])
        properties = {"amount": amount, "currency": currency, "sku": f"sku-{rng.randrange(500)}"}
        customer = f"c{n % customers + 1:07d}"
        return {"name": "purchase", "customerId": customer, "properties": properties}

    return [
        {"query": TRACK, "variables": {"events": [event(c * 1000 + i) for i in range(1000)]}}
        for c in range(calls)
    ]


async def events_phase(run: Run) -> list[Figure]:
    await settle(run)  # what the segment phase's journey still sends
    async with run.client() as client:
        for n in range(20):
            trigger = "purchase" if n < 5 else f"other-{n}"
            given: dict[str, Any] = {"name": f"on {n}", "kind": "EVENT_TRIGGERED",
                                     "triggerEvent": trigger, "steps": SEND}  # fmt: skip
            if n < 2:
                given["triggerWhere"] = [{"name": "amount", "op": "GREATER_THAN", "value": 50}]
            journey_id = (await h.graphql(client, CREATE, {"input": given}))["createJourney"]["id"]
            await h.graphql(client, ACTIVATE, {"id": journey_id})
    calls, entered = run.args.calls, [0]
    bodies = event_bodies(calls, run.args.customers)

    def project_check(payload: dict[str, Any]) -> None:
        if payload.get("errors") or len(payload["data"]["trackEvents"]) != 1000:
            raise h.Failed(f"trackEvents: {str(payload)[:300]}")
        entered[0] += sum(len(result["entered"]) for result in payload["data"]["trackEvents"])

    def peer_check(payload: dict[str, Any]) -> None:
        if payload.get("inserted") != 1000:
            raise h.Failed(f"peer /events: {payload}")

    floor_answered = [0]

    def floor_check(payload: dict[str, Any]) -> None:
        if payload.get("errors") or len(payload["data"]["trackEvents"]) != 1000:
            raise h.Failed(f"floor trackEvents: {str(payload)[:300]}")
        floor_answered[0] += sum(len(r["entered"]) for r in payload["data"]["trackEvents"])

    peer = await h.start_peer(run.setup, "events", run.args)
    peer_seconds, peer_busy = await drive(run, peer.url, "/events", bodies, peer_check)
    run.processes.stop("events")
    floor = await h.start_peer(run.setup, "floor", run.args)
    floor_seconds, floor_busy = await drive(run, floor.url, "/graphql", bodies, floor_check)
    run.processes.stop("floor")
    seconds, project_busy = await drive(run, run.api.url, "/graphql", bodies, project_check)
    rate, peer_rate = calls * 1000 / seconds, calls * 1000 / peer_seconds
    floor_rate = calls * 1000 / floor_seconds
    name = f"events: {calls} x trackEvents(1,000), {run.args.clients} clients, 20 journeys"
    shown = f"{rate:,.0f} events/s ({entered[0]:,} entries)"
    values = {"events_per_s": rate, "peer_events_per_s": peer_rate, "entered": entered[0],
              "floor_events_per_s": floor_rate}  # fmt: skip
    floor_name = "events: the Strawberry floor (same calls; stores the events only)"
    floor_shown = f"{floor_rate:,.0f} events/s ({floor_answered[0]:,} journeys answered)"
    return [
        Figure(name, shown, f"{peer_rate:,.0f} events/s (multi-row INSERT)",
               rate / peer_rate, ">= 0.5x", busy(project_busy, peer_busy), values),
        Figure(floor_name, floor_shown, f"{peer_rate:,.0f} events/s (multi-row INSERT)",
               floor_rate / peer_rate, "-", busy(floor_busy, peer_busy)),
    ]  # fmt: skip


RUNNERS = {"import": import_phase, "estimate": estimate_phase, "segment": segment_phase,
           "events": events_phase}  # fmt: skip
