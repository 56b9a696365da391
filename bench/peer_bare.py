"""The bare peer: Starlette routes on peer_db.py, JSON in and out, no GraphQL. For fanout.py,
`POST /broadcast` sends every subscribed WebSocket the text it carries (the project's frame) in
a task, as the project answers its mutation and then fans out."""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from peer_db import Caller, Db, Refused, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def app_of(db: Db) -> Starlette:
    def route(work: Callable[[Request, Caller], Awaitable[Any]]) -> Callable[..., Any]:
        async def handle(request: Request) -> Response:
            try:
                caller = await db.writer(request.headers.get("authorization"))
                return JSONResponse(await work(request, caller))
            except Refused as refusal:
                return JSONResponse({"error": refusal.code}, refusal.status)

        return handle

    async def transition(request: Request, caller: Caller) -> Any:
        return await db.transition(caller, await request.json(), request.path_params["action"])

    async def journey(request: Request, caller: Caller) -> Any:
        _, found = await db.journeys(caller, request.path_params["id"])
        if not found:
            raise Refused("NOT_FOUND", 404)
        return found[0]

    async def journeys(request: Request, caller: Caller) -> Any:
        total, page = await db.journeys(caller, None, int(request.query_params.get("first", 20)))
        return {"totalCount": total, "edges": [{"node": view} for view in page]}

    async def create(request: Request, caller: Caller) -> Any:
        return await db.create(caller, await request.json())

    async def events(request: Request, caller: Caller) -> Any:
        body = await request.json()
        return {"inserted": await db.insert_events(caller, body["variables"]["events"])}

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

    routes = [Route("/create", route(create), methods=["POST"]),
              Route("/journeys/{id}", route(journey)), Route("/journeys", route(journeys)),
              Route("/events", route(events), methods=["POST"]),
              WebSocketRoute("/graphql", subscriber), Route("/metrics", metrics),
              Route("/broadcast", broadcast, methods=["POST"]),
              Route("/healthz", lambda _: PlainTextResponse("ok")),
              Route("/{action:str}", route(transition), methods=["POST"])]  # fmt: skip
    return Starlette(routes=routes, lifespan=db.lifespan)


if __name__ == "__main__":
    serve(app_of)
