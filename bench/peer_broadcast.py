"""fanout.py's limit: WebSockets and one pre-serialized frame, nothing else. It acks each
`connection_init`, keeps each socket that subscribed, and `POST /broadcast` sends every
socket the text it carries (the project's real frame, as a JSON string) in a task, as the
project answers its mutation and then fans out. `/metrics` counts the sockets as the project
does. It imports nothing of the project, and uses no database."""

from __future__ import annotations

import asyncio
import contextlib
import json

from peer_db import Db, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def app_of(_db: Db) -> Starlette:
    sockets: set[WebSocket] = set()
    sending: set[asyncio.Task[None]] = set()

    async def subscriber(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="graphql-transport-ws")
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.receive_text()  # connection_init
            await websocket.send_text(json.dumps({"type": "connection_ack"}))
            await websocket.receive_text()  # subscribe
            sockets.add(websocket)
            async for _message in websocket.iter_text():
                pass
        sockets.discard(websocket)

    async def send_all(targets: list[WebSocket], frame: str) -> None:
        for websocket in targets:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.send_text(frame)

    async def broadcast(request: Request) -> Response:
        task = asyncio.create_task(send_all(list(sockets), await request.json()))
        sending.add(task)
        task.add_done_callback(sending.discard)
        return JSONResponse({"subscribers": len(sockets)})

    async def metrics(_request: Request) -> Response:
        return PlainTextResponse(f"journeys_subscribers {len(sockets)}\n")

    routes = [WebSocketRoute("/graphql", subscriber), Route("/metrics", metrics),
              Route("/broadcast", broadcast, methods=["POST"]),
              Route("/healthz", lambda _: PlainTextResponse("ok"))]  # fmt: skip
    return Starlette(routes=routes)


if __name__ == "__main__":
    serve(app_of)
