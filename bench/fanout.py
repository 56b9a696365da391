"""Fan-out: one status change to N live subscribers of one API process, against a bare
broadcast of the project's real frame (peer_bare.py). The N clients run in a child
process (this script, `clients` mode); latency is from just before the change's request."""

from __future__ import annotations

import asyncio
import gc
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
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

GOALS = {1_000: (100.0, None), 10_000: (500.0, 2.0)}  # N: (p99 under, at most x bare's p99)
SUBSCRIPTION = (
    "subscription { statusChanged { sequence journeyId status previousStatus action at } }"
)


class Subscriber(asyncio.Protocol):
    """One subscriber on websockets' sans-I/O protocol straight on the loop, a frame stamped in
    `data_received` before anything else runs: websockets' asyncio client cost about a fifth
    more CPU a frame at 10,000, taken from the server under test on 2 cores."""

    def __init__(self, url: str, token: str, deflate: bool) -> None:
        offer = [ClientPerMessageDeflateFactory()] if deflate else None  # as browsers offer it
        protocol = [Subprotocol("graphql-transport-ws")]
        self.ws = ClientProtocol(parse_uri(url), extensions=offer, subprotocols=protocol)
        self.token, self.acked, self.frames = token, False, list[tuple[float, str]]()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self.flush()

    def data_received(self, data: bytes) -> None:
        stamp = time.time()
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                init = {"authorization": f"Bearer {self.token}"}
                self.send({"type": "connection_init", "payload": init})
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                if self.acked:
                    self.frames.append((stamp, bytes(event.data).decode()))
                else:
                    self.acked = True
                    self.send({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
                    self.ready.set_result(None)
        self.flush()  # pongs and close replies, which the protocol queues by itself

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send_text(json.dumps(message).encode())

    def flush(self) -> None:
        for data in self.ws.data_to_send():
            if data and not self.transport.is_closing():
                self.transport.write(data)


async def clients(url: str, token: str, count: int, deflate: bool) -> None:
    """N subscribers opened, then per line on stdin each one's receipt time of the next frame."""
    loop, gate, started = asyncio.get_running_loop(), asyncio.Semaphore(100), time.monotonic()
    host, port = url.split("//")[1].split("/")[0].split(":")

    async def open_one() -> Subscriber:
        async with gate:
            _, subscriber = await loop.create_connection(
                lambda: Subscriber(url, token, deflate), host, int(port)
            )
            await asyncio.wait_for(subscriber.ready, 60)
            return subscriber

    subscribers = await asyncio.gather(*(open_one() for _ in range(count)))
    gc.collect()
    gc.freeze()  # the load generator is not under test: no collection pauses it mid-round
    deflated = sum(bool(s.ws.extensions) for s in subscribers)  # permessage-deflate agreed
    opened = {"seconds": time.monotonic() - started, "deflated": deflated}
    print(json.dumps(opened), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    seen = 0
    while await reader.readline():
        deadline = time.monotonic() + 30
        while any(len(s.frames) <= seen for s in subscribers) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        times = [s.frames[seen][0] if len(s.frames) > seen else None for s in subscribers]
        first = next((s.frames[seen][1] for s in subscribers if len(s.frames) > seen), "")
        seen += 1
        print(json.dumps({"times": times, "frame": first}), flush=True)


async def phase(run: h.Run, path: str, count: int, journey: list[str]) -> dict[str, Any]:
    """One server, N subscribers, `--rounds` changes: latencies, KiB a connection, CPU a frame
    (the server's, including the change's request, and the clients'), the frame. `journey`:
    its id, the last action it had (which the next change undoes), the frame bare sends."""
    url, pid = await run.serve(f"{path}-{count}", ("peer_bare.py",) if path == "bare" else ())
    client = h.RawClient(url, run.headers)

    async def change() -> None:
        if path == "bare":
            await client.request("POST", "/broadcast", journey[2])
        else:
            journey[1] = "resume" if journey[1] == "pause" else "pause"
            await h.journey(client, journey[0], journey[1])

    for _ in range(2):  # warm-up changes, no subscriber yet
        await change()
    before = h.memory_mb(pid, "VmRSS") or 0.0
    command = [__file__, "clients", url.replace("http", "ws") + "/graphql", run.token, str(count)]
    clients = await asyncio.create_subprocess_exec(
        sys.executable, *command, str(run.args.compression), stdin=PIPE, stdout=PIPE, limit=1 << 25
    )
    assert clients.stdin is not None and clients.stdout is not None
    opened = json.loads(await asyncio.wait_for(clients.stdout.readline(), 600))
    if opened["deflated"] != (count if run.args.compression else 0):
        raise h.Failed(f"{path}: permessage-deflate agreed on {opened['deflated']} of {count}")

    def subscribed() -> bool:
        text = httpx.get(f"{url}/metrics", headers=run.headers, trust_env=False).text
        return int(re.findall(r"journeys_subscribers (\d+)", text)[0]) >= count

    await run.until(subscribed, "all subscribed", every=0.2)
    after = h.memory_mb(pid, "VmRSS") or 0.0
    found: dict[str, Any] = {"latencies": [], "missing": 0, "kib": (after - before) * 1024 / count}
    pids = [pid, clients.pid]
    cpu = [h.cpu_seconds([p]) for p in pids]
    for _ in range(run.args.rounds):
        await asyncio.sleep(1)
        t0 = time.time()
        await change()
        clients.stdin.write(b"collect\n")
        reply = json.loads(await asyncio.wait_for(clients.stdout.readline(), 120))
        found["latencies"] += [stamp - t0 for stamp in reply["times"] if stamp is not None]
        found["missing"] += reply["times"].count(None)
        found["frame"] = reply["frame"]
    frames = count * run.args.rounds
    found["cpu"] = [(h.cpu_seconds([p]) - c) * 1e6 / frames for p, c in zip(pids, cpu, strict=True)]
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
    if run.args.compression:  # the bare peer too: it is served with `journeys serve`'s options
        run.env["JOURNEYS_WS_DEFLATE"] = "on"
    url, _ = await run.serve("setup")
    async with h.RawClient(url, run.headers) as client:
        journey = [await h.journey(client, journey_input("fan-out"), "activate"), "resume", ""]
    run.stop("setup")
    rows = []
    for count in map(int, run.args.subscribers.split(",")):
        project = await phase(run, "project", count, journey)
        journey[2] = project["frame"]
        bare = await phase(run, "bare", count, journey)
        p99, bare_p99 = (h.percentile(found["latencies"], 0.99) * 1000 for found in (project, bare))
        under, at_most = GOALS.get(count, (float("inf"), None))
        met = p99 < under and (at_most is None or p99 / bare_p99 <= at_most)
        met = met and not project["missing"] and not bare["missing"]
        goal = f"p99 < {under:.0f} ms" + (f", ratio <= {at_most:g}" if at_most else "")
        goal = goal if count in GOALS else "-"
        both = [f"{project['kib']:.1f} / {bare['kib']:.1f}"]
        both += [f"{project['cpu'][k]:.0f} / {bare['cpu'][k]:.0f}" for k in (0, 1)]
        cells = [shown(project), shown(bare), f"{p99 / bare_p99:.2f}", *both]
        missing = f"{project['missing']} / {bare['missing']}"
        rows.append([f"{count:,}", *cells, missing, goal, "met" if met else "NOT met"])
    header = ["N", "project p50 / p99 / max ms", "bare p50 / p99 / max ms", "ratio p99",
              "KiB/connection project / bare", "server CPU us/frame project / bare",
              "clients CPU us/frame project / bare", "missing", "goal", "met"]  # fmt: skip
    deflate = "permessage-deflate on" if run.args.compression else "no compression"
    return run.report(f"{run.args.rounds} rounds per path and N; {deflate}", header, rows)


if __name__ == "__main__" and sys.argv[1:2] == ["clients"]:
    asyncio.run(clients(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "True"))
elif __name__ == "__main__":
    parser = h.parser(__doc__, "fanout")
    parser.add_argument("--subscribers", default="1000,10000", help="comma-separated N")
    parser.add_argument("--rounds", type=int, default=4, help="changes per path and N")
    parser.add_argument(
        "--compression", action="store_true", help="permessage-deflate on servers and clients"
    )
    sys.exit(h.run(parser.parse_args(), benchmark))
