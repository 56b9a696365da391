"""The bare broadcast, fanout.py's limit: WebSockets and one pre-serialized frame, nothing else.

It answers `connection_init` with `connection_ack`, keeps every socket that sent `subscribe`
in a set, and `POST /broadcast` sends every socket the same text (`--frame-file`: the
project's real `next` frame, captured in the project phase) with `await ws.send_text(frame)`
in a loop. No GraphQL, no database, no work per subscriber beyond the send itself.
`/metrics` counts the sockets as `journeys_subscribers N`, as the project does.

Like every peer it imports nothing of the project (checked before it serves). Started by
the driver: `python bench/peer_broadcast.py --port P --ws-ping S --uvicorn-options JSON
--frame-file PATH`, after `ws_server`'s set-up (the same as the project server's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import uvicorn
from peer_common import check_outside_project, healthz
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from ws_server import arguments, prepare_process, uvicorn_options

PROTOCOL = "graphql-transport-ws"


def create_app(frame: str) -> Starlette:
    """The limit: accept, ack, remember; on POST /broadcast send `frame` to every socket."""
    sockets: set[WebSocket] = set()
    sending: set[asyncio.Task[None]] = set()
    ack = json.dumps({"type": "connection_ack"})

    async def graphql_ws(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol=PROTOCOL)
        try:
            await websocket.receive_text()  # connection_init
            await websocket.send_text(ack)
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
            # A client that left mid-broadcast is not this benchmark's concern.
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await websocket.send_text(frame)

    async def broadcast(_request: Request) -> Response:
        # Answer at once and send in a task, as the project answers the mutation and
        # then fans out from its feed task.
        targets = list(sockets)
        task = asyncio.create_task(send_all(targets))
        sending.add(task)
        task.add_done_callback(sending.discard)
        return JSONResponse({"subscribers": len(targets)})

    async def metrics(_request: Request) -> Response:
        return PlainTextResponse(f"journeys_subscribers {len(sockets)}\n")

    return Starlette(
        routes=[
            WebSocketRoute("/graphql", graphql_ws),
            Route("/broadcast", broadcast, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
        ]
    )


def main() -> None:
    parser = arguments("peer_broadcast.py")
    parser.add_argument("--frame-file", type=Path, required=True)
    args = parser.parse_args()
    prepare_process()
    app = create_app(args.frame_file.read_text())
    check_outside_project()
    uvicorn.run(app, **uvicorn_options(args))


if __name__ == "__main__":
    main()
