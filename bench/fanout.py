"""Fan-out: one status change to N live subscribers of one API process, against a bare
broadcast (peer_broadcast.py, sending the project's real frame to every socket).

For each N and each server (a fresh process each time): N `graphql-transport-ws` clients in
one process (ws_clients.py) subscribe to `statusChanged`; once the server's `/metrics` counts
them, each round sends one change (`pauseJourney` / `resumeJourney`, or `POST /broadcast`)
and every client stamps its frame. Latency: that stamp minus `t0`, taken just before the
request (one machine, one clock). Memory: VmRSS once subscribed minus before, over N.

    .venv/bin/python bench/fanout.py [--subscribers 1000,10000 --rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from asyncio.subprocess import PIPE
from typing import Any

import harness as h
import httpx
from transitions import journey_input

GOALS = {1_000: (100.0, None), 10_000: (500.0, 2.0)}  # N: (p99 under, at most x bare's p99)
MOVE = "mutation($id: ID!) {{ {}Journey(id: $id) {{ status }} }}"


async def phase(run: h.Run, path: str, count: int, journey: list[str]) -> dict[str, Any]:
    """One server, N subscribers, `--rounds` changes: latencies, KiB a connection, a frame."""
    frame = ("peer_broadcast.py", "--frame-file", str(run.workdir / "frame.json"))
    url, pid = await run.serve(f"{path}-{count}", frame if path == "bare" else ())
    client = h.RawClient(url, run.headers)

    async def change() -> None:
        if path == "bare":
            await client.request("POST", "/broadcast", {})
            return
        action = "pause" if journey[1] == "ACTIVE" else "resume"
        answer = await client.graphql(MOVE.format(action), {"id": journey[0]})
        journey[1] = answer[f"{action}Journey"]["status"]

    for _ in range(2):  # warm-up changes, no subscriber yet
        await change()
    before = h.memory_mb(pid, "VmRSS") or 0.0
    command = [h.BENCH / "ws_clients.py", url.replace("http", "ws") + "/graphql", run.token]
    clients = await asyncio.create_subprocess_exec(
        sys.executable, *map(str, command), str(count), stdin=PIPE, stdout=PIPE, limit=1 << 25
    )
    assert clients.stdin is not None and clients.stdout is not None
    opened = json.loads(await asyncio.wait_for(clients.stdout.readline(), 600))
    async with httpx.AsyncClient(base_url=url, headers=run.headers, trust_env=False) as metrics:
        while int(re.findall(r"journeys_subscribers (\d+)", (await metrics.get("/metrics")).text)
                  [0]) < count:  # fmt: skip
            run.check_alive()
            await asyncio.sleep(0.2)
    after = h.memory_mb(pid, "VmRSS") or 0.0
    found: dict[str, Any] = {"latencies": [], "missing": 0, "kib": (after - before) * 1024 / count}
    for _ in range(run.args.rounds):
        await asyncio.sleep(1)
        t0 = time.time()
        await change()
        clients.stdin.write(b"collect\n")
        reply = json.loads(await asyncio.wait_for(clients.stdout.readline(), 120))
        found["latencies"] += [stamp - t0 for stamp in reply["times"] if stamp is not None]
        found["missing"] += reply["times"].count(None)
        found["frame"] = reply["frame"]
    clients.stdin.close()
    await clients.wait()
    await client.__aexit__()
    run.stop(f"{path}-{count}")
    h.note(f"{path} N={count}: subscribed in {opened['seconds']:.1f} s, {h.ms(found['latencies'])}")
    return found


def shown(found: dict[str, Any]) -> str:
    return " / ".join(h.fmt(h.percentile(found["latencies"], q) * 1000, ".0f")
                      for q in (0.5, 0.99, 1.0))  # fmt: skip


async def benchmark(run: h.Run) -> str:
    _, most = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))  # the servers and clients inherit it
    run.prepare()
    url, _ = await run.serve("setup")
    async with h.RawClient(url, run.headers) as client:
        journey = [await h.journey(client, journey_input("fan-out"), "activate"), "ACTIVE"]
    run.stop("setup")
    rows = []
    for count in map(int, run.args.subscribers.split(",")):
        project = await phase(run, "project", count, journey)
        (run.workdir / "frame.json").write_text(project["frame"])
        bare = await phase(run, "bare", count, journey)
        p99, bare_p99 = (h.percentile(found["latencies"], 0.99) * 1000 for found in (project, bare))
        under, at_most = GOALS.get(count, (float("inf"), None))
        met = p99 < under and (at_most is None or p99 / bare_p99 <= at_most)
        met = met and not project["missing"] and not bare["missing"]
        goal = f"p99 < {under:.0f} ms" + (f", ratio <= {at_most:g}" if at_most else "")
        kib = f"{project['kib']:.1f} / {bare['kib']:.1f}"
        missing = f"{project['missing']} / {bare['missing']}"
        cells = [shown(project), shown(bare), f"{p99 / bare_p99:.2f}", kib, missing]
        rows.append([f"{count:,}", *cells, goal, "met" if met else "NOT met"])
    header = ["N", "project p50 / p99 / max ms", "bare p50 / p99 / max ms", "ratio p99",
              "KiB/connection project / bare", "missing", "goal", "met"]  # fmt: skip
    return run.report(f"{run.args.rounds} rounds per path and N", header, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    h.options(parser, "journeys_fanout")
    parser.add_argument("--subscribers", default="1000,10000", help="comma-separated N")
    parser.add_argument("--rounds", type=int, default=4, help="changes per path and N")
    return h.run("fanout", parser.parse_args(), benchmark)


if __name__ == "__main__":
    sys.exit(main())
