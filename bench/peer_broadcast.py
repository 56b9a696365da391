"""The bare broadcast, fanout.py's limit: WebSockets and one pre-serialized frame, nothing else.

It answers `connection_init` with `connection_ack`, keeps every socket that sent `subscribe`,
and `POST /broadcast` sends every socket the same text (`--frame-file`: the project's real
`next` frame, captured in the project's phase) with `await ws.send_text(frame)` in a loop, in
a task, as the project answers its mutation and then fans out. `/metrics` counts the sockets
as `journeys_subscribers N`, as the project does. It imports nothing of the project.

    python bench/peer_broadcast.py --port P --frame-file F --uvicorn-options JSON
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def app_of(frame: str) -> Starlette:
    sockets: set[WebSocket] = set()
    sending: set[asyncio.Task[None]] = set()

    async def graphql_ws(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="graphql-transport-ws")
        try:
            await websocket.receive_text()  # connection_init
            await websocket.send_text(json.dumps({"type": "connection_ack"}))
            await websocket.receive_text()  # subscribe
            sockets.add(websocket)
            async for _message in websocket.iter_text():
                pass
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    async def send_all(targets: list[WebSocket]) -> None:
        for websocket in targets:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.send_text(frame)

    async def broadcast(_request: Request) -> Response:
        task = asyncio.create_task(send_all(list(sockets)))
        sending.add(task)
        task.add_done_callback(sending.discard)
        return JSONResponse({"subscribers": len(sockets)})

    async def metrics(_request: Request) -> Response:
        return PlainTextResponse(f"journeys_subscribers {len(sockets)}\n")

    return Starlette(
        routes=[
            WebSocketRoute("/graphql", graphql_ws),
            Route("/broadcast", broadcast, methods=["POST"]),
            Route("/metrics", metrics),
            Route("/healthz", lambda _: PlainTextResponse("ok")),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frame-file", type=Path, required=True)
    parser.add_argument("--database-url", help="unused: no database")
    parser.add_argument("--uvicorn-options", default="{}", help="JSON: `journeys serve`'s")
    args = parser.parse_args()
    options = json.loads(args.uvicorn_options)
    uvicorn.run(
        app_of(args.frame_file.read_text()),
        host="127.0.0.1",
        port=args.port,
        log_level="info",
        **options,
    )
