"""Customers through a flow with branches beside the same customers through one SEND, then
events among customers waiting for one; bench/README.md says what each figure means."""

from __future__ import annotations

import sys
import time
from typing import Any

import harness as h
from audience import TRACK, abort, enroll, flow, import_profiles, peak_rss, send, walk

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
MOVED = 10_000  # customers released, and customers converted


async def events(client: h.RawClient, name: str, customers: range) -> list[tuple[float, float]]:
    """`trackEvents` of `name`, 1,000 a call; for each customer, (wall-clock start of its call,
    seconds it took)."""
    timed = []
    for start in range(customers.start, customers.stop, 1000):
        batch = range(start, min(customers.stop, start + 1000))
        began, asked = time.time(), time.perf_counter()
        given = [{"name": name, "customerId": f"c{n}"} for n in batch]
        await client.graphql(TRACK, {"events": given})
        timed += [(began, time.perf_counter() - asked)] * len(batch)
    return timed


async def benchmark(run: h.Run) -> str:
    args, n, waiting = run.args, run.args.customers, run.args.waiting
    url, api = await run.project()
    async with h.RawClient(url, run.headers, timeout=600) as client:
        await import_profiles(run, url, max(n, waiting), lambda k: {"plan": ("free", "vip")[k % 2]})
        line = await flow(client, "line", [send()], "activate", "pause")
        branching = await flow(client, "flow", BRANCHING, "activate", "pause")
        held = await flow(client, "waiting", WAITING, "activate", "pause", goalEvent="quit")
        for journey_id, customers in ((line, n), (branching, n), (held, waiting)):
            await enroll(client, journey_id, customers)
    await run.start_workers(args.workers)
    line_seconds = await walk(run, url, line, n)
    flow_seconds = await walk(run, url, branching, n)
    counter = "SELECT {} FROM node_counters WHERE journey_id = %s AND branch = ''"
    applied = int(run.sql(counter.format("sum(reached)"), branching))
    at = counter.format("at") + " AND node_key = 'w'"
    await walk(run, url, held, waiting, "entered")
    await run.until(lambda: (run.sql(at, held) or 0) >= waiting, "all waiting")  # before events
    async with h.RawClient(url, run.headers, timeout=600) as client:
        released = await events(client, "buy", range(0, MOVED))
        converted = await events(client, "quit", range(MOVED, 2 * MOVED))
    delivered = "SELECT delivered FROM journey_stats WHERE journey_id = %s"
    await run.until(lambda: run.sql(delivered, held) >= MOVED, "the releases delivered")
    thanks = "SELECT customer_id, extract(epoch FROM created_at) FROM deliveries WHERE "
    created = dict(run.rows(thanks + "journey_id = %s AND node_key = 'thanks'", held))
    release = [float(created[f"c{k}"]) - began for k, (began, _) in enumerate(released)]
    inside = waiting - 2 * MOVED
    abort_ms = await abort(run, url, held, inside)
    line_rate, flow_rate = n / line_seconds, applied / flow_seconds
    rows = [
        [f"line: {n:,} through one SEND", f"{line_rate:,.0f} steps/s ({line_seconds:.1f} s)",
         "-", "-"],
        [f"flow: {n:,} through SPLIT, CONDITION, WAIT_FOR_EVENT, SEND",
         f"{flow_rate:,.0f} node applications/s ({applied:,} in {flow_seconds:.1f} s)",
         f"{line_rate:,.0f} steps/s (line)", f">= 0.75x: {flow_rate / line_rate:.2f}x"],
        [f"release: {MOVED:,} of {waiting:,} waiting", h.ms(release), "-", "p99 < 1,000 ms"],
        [f"goal exit: {MOVED:,}", h.ms([took for _, took in converted]), "-", "p99 < 1,000 ms"],
        [f"abort with {inside:,} inside", f"{abort_ms:.0f} ms", "-", "< 200 ms"],
        ["peak RSS", peak_rss(run, api), "-", "< 300 MB each"],
    ]  # fmt: skip
    settings = f"{n:,} customers, {waiting:,} waiting, {args.workers} workers"
    return run.report(settings, ["phase", "project", "compared with", "goal"], rows)


def main() -> int:
    parser = h.parser(__doc__, "flow", workers=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--waiting", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.waiting <= 2 * MOVED:
        parser.error(f"--waiting must be above {2 * MOVED}")
    return h.run("flow", args, benchmark)


if __name__ == "__main__":
    sys.exit(main())
