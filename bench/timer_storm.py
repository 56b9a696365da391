"""Timer storm: N journeys due to START at one second; again with Redis flushed just before."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import harness as h
import redis

ACTIVE = "SELECT count(*) FROM journeys WHERE status = 'ACTIVE' AND name LIKE 'storm %%'"
STARTS = """SELECT e.journey_id, e.at FROM status_events e JOIN journeys j ON j.id = e.journey_id
  WHERE e.action = 'START' AND j.name LIKE 'storm %%'"""


async def create(run: h.Run, url: str, count: int, start_at: datetime, prefix: str) -> float:
    """`count` journeys created and activated, 16 at once; seconds it took."""
    gate, started = asyncio.Semaphore(16), time.perf_counter()
    given: dict[str, Any] = {"kind": "EVENT_TRIGGERED", "triggerEvent": "storm"}
    given |= {"startAt": start_at.isoformat(), "steps": [{"type": "WAIT", "seconds": 60}]}

    async def one(n: int) -> None:
        async with gate, h.RawClient(url, run.headers) as client:
            await h.journey(client, given | {"name": f"{prefix} {n}"}, "activate")

    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


async def storm(run: h.Run, kind: str) -> list[str]:
    args, n = run.args, run.args.journeys
    url, _ = await run.project(args.workers, JOURNEYS_SWEEP_SECONDS=str(args.sweep_seconds))
    # The due second leaves room for the creation, which 20 journeys due a day later time.
    probe = await create(run, url, 20, datetime.now(UTC) + timedelta(days=1), "probe") / 20
    due = datetime.now(UTC) + timedelta(seconds=probe * n * 1.25 + args.lead)
    due = due.replace(microsecond=0) + timedelta(seconds=1)
    created = await create(run, url, n, due, "storm")
    overran = datetime.now(UTC) > due - timedelta(seconds=1.5)
    if kind == "flush":
        await asyncio.sleep((due - timedelta(seconds=1) - datetime.now(UTC)).total_seconds())
        redis.Redis.from_url(run.env["REDIS_URL"]).flushall()
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
    timeline: list[tuple[float, int]] = []
    while (since := (datetime.now(UTC) - due).total_seconds()) < args.timeout:
        timeline.append((since, int(run.sql(ACTIVE))))
        if timeline[-1][1] >= n:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(args.sweep_seconds + 1)  # a job or sweep still in flight, then count
    starts = run.rows(STARTS)
    seconds = [(at - due).total_seconds() for _, at in starts]  # PostgreSQL's timestamptz
    duplicates = len(starts) - len({journey_id for journey_id, _ in starts})

    def crossing(share: float) -> float | None:
        return next((t for t, seen in timeline if seen >= n * share), None)

    misses, all_active = n - timeline[-1][1], crossing(1.0)
    met = all_active is not None and all_active <= 5 and not duplicates and not misses
    run.stop()
    valid = " (creation overran the due second: not valid)" if overran else ""
    seen = " / ".join(h.fmt(crossing(share), ".2f") for share in (0.5, 0.99, 1.0))
    lateness = " / ".join(h.fmt(h.percentile(seconds, q), ".2f") for q in (0.5, 0.99, 1.0))
    cells = [f"{n / created:,.0f}/s", f"{seen} s", f"{lateness} s", str(duplicates), str(misses)]
    return [f"{n:,}", kind + valid, *cells, "met" if met else "NOT met"]


async def benchmark(run: h.Run) -> str:
    rows = [await storm(run, kind) for kind in run.args.runs.split(",")]
    header = ["journeys", "run", "created and activated", "50% / 99% / all ACTIVE after",
              "lateness p50 / p99 / max", "duplicates", "misses", "goal"]  # fmt: skip
    settings = f"{run.args.workers} workers, sweep every {run.args.sweep_seconds} s"
    return run.report(settings, header, rows)


if __name__ == "__main__":
    h.main(__doc__, "timer_storm", benchmark, True, journeys=(1000, "journeys due at once"),
           sweep_seconds=(2, "JOURNEYS_SWEEP_SECONDS"), runs=("normal,flush", "or one of them"),
           lead=(5.0, "margin before due, s"), timeout=(60.0, "missed if later"))  # fmt: skip
