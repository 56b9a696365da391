"""fanout.py's subscribers: N `graphql-transport-ws` clients in one process.

    python bench/ws_clients.py URL TOKEN N

It opens N connections (each sends `connection_init` with the token and, once acked,
subscribes to `statusChanged`), prints one JSON line (`opened`, `seconds`), then for each
line read on stdin waits until every connection has a new frame (30 s at most) and prints
each one's receipt time (`time.time()`, None when missing) and the first frame. Each
connection is websockets' sans-I/O protocol straight on the loop, stamping a frame in
`data_received` before anything else runs: with 10,000 connections, websockets' asyncio
client cost about a fifth more CPU a frame, taken from the server under test on 2 cores.
It imports nothing of the project.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

SUBSCRIPTION = (
    "subscription { statusChanged { sequence journeyId status previousStatus action at } }"
)


class Subscriber(asyncio.Protocol):
    def __init__(self, url: str, token: str) -> None:
        self.ws = ClientProtocol(parse_uri(url), subprotocols=[Subprotocol("graphql-transport-ws")])
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


async def main(url: str, token: str, count: int) -> None:
    loop, gate, started = asyncio.get_running_loop(), asyncio.Semaphore(100), time.monotonic()
    host, port = url.split("//")[1].split("/")[0].split(":")

    async def open_one() -> Subscriber:
        async with gate:
            _, subscriber = await loop.create_connection(
                lambda: Subscriber(url, token), host, int(port)
            )
            await asyncio.wait_for(subscriber.ready, 60)
            return subscriber

    subscribers = await asyncio.gather(*(open_one() for _ in range(count)))
    gc.collect()
    gc.freeze()  # the load generator is not under test: no collection pauses it mid-round
    print(
        json.dumps({"opened": len(subscribers), "seconds": time.monotonic() - started}), flush=True
    )
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


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
