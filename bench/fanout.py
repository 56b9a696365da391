"""Fan-out: one status change to N subscribers of one API process, against a bare broadcast."""

import asyncio
import gc
import itertools
import json
import re
import resource
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import harness as h
import httpx
from transitions import journey_input
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

GOALS = {1_000: (100.0, None), 10_000: (500.0, 2.0)}  # N: (p99 under, at most x bare's p99)
Change = Callable[[h.RawClient], Awaitable[object]]  # one status change, on the phase's client
QUERY = "subscription { statusChanged { sequence journeyId status previousStatus action at } }"
SUBSCRIBE = {"id": "1", "type": "subscribe", "payload": {"query": QUERY}}


class Subscriber(asyncio.Protocol):
    """websockets' sans-I/O protocol straight on the loop, a frame stamped first thing: the asyncio
    client cost about a fifth more CPU a frame at 10,000, taken from the server under test."""

    def __init__(self, uri: WebSocketURI, token: str, deflate: bool) -> None:
        offer = [ClientPerMessageDeflateFactory()] if deflate else None  # as browsers offer it
        protocol = [Subprotocol("graphql-transport-ws")]
        self.ws = ClientProtocol(uri, extensions=offer, subprotocols=protocol)
        self.init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        self.frames: list[tuple[float, str]] = []  # (receipt time, text) of each one after the ack
        self.subscribed = asyncio.Event()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        transport.writelines(self.ws.data_to_send())

    def data_received(self, data: bytes) -> None:
        stamp = time.time()
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):  # the handshake's
                self.ws.send_text(json.dumps(self.init).encode())
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                if self.subscribed.is_set():
                    self.frames.append((stamp, bytes(event.data).decode()))
                else:  # connection_ack
                    self.ws.send_text(json.dumps(SUBSCRIBE).encode())
                    self.subscribed.set()
        if not self.transport.is_closing():  # the above, and the pongs and close replies queued
            self.transport.writelines(self.ws.data_to_send())


async def clients(url: str, token: str, count: int, deflate: bool) -> None:
    """N subscribers opened, then per line on stdin each one's receipt time of the next frame."""
    loop, gate, started = asyncio.get_running_loop(), asyncio.Semaphore(100), time.monotonic()
    uri = parse_uri(url)

    async def open_one() -> Subscriber:
        subscriber = Subscriber(uri, token, deflate)
        async with gate:
            await loop.create_connection(lambda: subscriber, uri.host, uri.port)
            await asyncio.wait_for(subscriber.subscribed.wait(), 60)
        return subscriber

    subscribers = await asyncio.gather(*(open_one() for _ in range(count)))
    gc.collect()
    gc.freeze()  # the load generator is not under test: no collection pauses it mid-round
    deflated = sum(bool(s.ws.extensions) for s in subscribers)  # permessage-deflate agreed
    print(json.dumps({"seconds": time.monotonic() - started, "deflated": deflated}), flush=True)
    seen = 0
    while await loop.run_in_executor(None, sys.stdin.readline):  # a line a round
        deadline = time.monotonic() + 30
        while any(len(s.frames) <= seen for s in subscribers) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        times = [s.frames[seen][0] if len(s.frames) > seen else None for s in subscribers]
        first = next((s.frames[seen][1] for s in subscribers if len(s.frames) > seen), "")
        seen += 1
        print(json.dumps({"times": times, "frame": first}), flush=True)


async def phase(run: h.Run, path: str, count: int, change: Change) -> dict[str, Any]:
    """One server, N subscribers, `--rounds` changes, each timed from just before its request."""
    url, pid = await run.serve(f"{path}-{count}", ("peer_bare.py",) if path == "bare" else ())
    client = h.RawClient(url, run.headers)
    for _ in range(2):  # warm-up changes, no subscriber yet
        await change(client)
    before = h.memory_mb(pid, "VmRSS") or 0.0
    command = [sys.executable, __file__, "clients", url.replace("http", "ws") + "/graphql"]
    command += [run.token, str(count), str(run.args.compression)]
    clients = await asyncio.create_subprocess_exec(*command, stdin=PIPE, stdout=PIPE, limit=1 << 25)
    assert clients.stdin is not None and clients.stdout is not None
    opened = json.loads(await asyncio.wait_for(clients.stdout.readline(), 600))
    if opened["deflated"] != (count if run.args.compression else 0):
        raise h.Failed(f"{path}: permessage-deflate agreed on {opened['deflated']} of {count}")

    def all_subscribed() -> bool:
        text = httpx.get(f"{url}/metrics", headers=run.headers, trust_env=False).text
        return int(re.findall(r"journeys_subscribers (\d+)", text)[0]) >= count

    await run.until(all_subscribed, "all subscribed", every=0.2)
    kib = ((h.memory_mb(pid, "VmRSS") or 0.0) - before) * 1024 / count
    server_start, clients_start = h.cpu_seconds([pid]), h.cpu_seconds([clients.pid])
    latencies: list[float] = []
    for _ in range(run.args.rounds):
        await asyncio.sleep(1)
        sent = time.time()
        await change(client)
        clients.stdin.write(b"collect\n")
        reply = json.loads(await asyncio.wait_for(clients.stdout.readline(), 120))
        latencies += [stamp - sent for stamp in reply["times"] if stamp is not None]
    frames = count * run.args.rounds
    server_cpu = (h.cpu_seconds([pid]) - server_start) * 1e6 / frames
    clients_cpu = (h.cpu_seconds([clients.pid]) - clients_start) * 1e6 / frames
    clients.stdin.close()
    await clients.wait()
    await client.__aexit__()
    run.stop(f"{path}-{count}")
    h.note(f"{path} N={count}: subscribed in {opened['seconds']:.1f} s, {h.ms(latencies)}")
    ms = [h.percentile(latencies, share) * 1000 for share in (0.5, 0.99, 1.0)]  # p50, p99, max
    return {"ms": " / ".join(h.fmt(value, ".0f") for value in ms), "p99": ms[1], "kib": kib,
            "server_cpu": server_cpu, "clients_cpu": clients_cpu,
            "missing": frames - len(latencies), "frame": reply["frame"]}  # fmt: skip


async def row(run: h.Run, count: int, journey: str, actions: Iterator[str]) -> dict[str, str]:
    project = await phase(run, "project", count, lambda api: h.journey(api, journey, next(actions)))
    frame = project["frame"]  # bare broadcasts the project's own
    bare = await phase(run, "bare", count, lambda api: api.request("POST", "/broadcast", frame))
    ratio = project["p99"] / bare["p99"]
    under, at_most = GOALS.get(count, (float("inf"), None))
    met = project["p99"] < under and (at_most is None or ratio <= at_most)
    met = met and not project["missing"] and not bare["missing"]
    goal = f"p99 < {under:.0f} ms" + (f", ratio <= {at_most:g}" if at_most else "")

    def both(key: str, spec: str) -> str:  # the project's figure / bare's
        return f"{project[key]:{spec}} / {bare[key]:{spec}}"

    return {"N": f"{count:,}", "project p50 / p99 / max ms": project["ms"],
            "bare p50 / p99 / max ms": bare["ms"], "ratio p99": f"{ratio:.2f}",
            "KiB/connection project / bare": both("kib", ".1f"),
            "server CPU us/frame project / bare": both("server_cpu", ".0f"),
            "clients CPU us/frame project / bare": both("clients_cpu", ".0f"),
            "missing": both("missing", ""), "goal": goal if count in GOALS else "-",
            "met": "met" if met else "NOT met"}  # fmt: skip


async def benchmark(run: h.Run) -> str:
    _, most = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))  # the servers and clients inherit it
    run.prepare()
    if run.args.compression:  # the bare peer too: it is served with `journeys serve`'s options
        run.env["JOURNEYS_WS_DEFLATE"] = "on"
    url, _ = await run.serve("setup")
    async with h.RawClient(url, run.headers) as client:
        journey = await h.journey(client, journey_input("fan-out"), "activate")
    run.stop("setup")
    actions = itertools.cycle(["pause", "resume"])  # each change undoes the one before
    rows = [await row(run, int(n), journey, actions) for n in run.args.subscribers.split(",")]
    deflate = "permessage-deflate on" if run.args.compression else "no compression"
    settings = f"{run.args.rounds} rounds per path and N; {deflate}"
    return run.report(settings, list(rows[0]), [list(cells.values()) for cells in rows])


if __name__ == "__main__" and sys.argv[1:2] == ["clients"]:
    asyncio.run(clients(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "True"))
elif __name__ == "__main__":
    h.main(__doc__, "fanout", benchmark, subscribers=("1000,10000", "comma-separated N"),
           rounds=(4, "changes per path and N"),
           compression=(False, "permessage-deflate on servers and clients"))  # fmt: skip
