"""The bare peer: Starlette routes on peer_db.py, JSON in and out, no GraphQL: `POST
/transition` `{"id", "action"}`, `GET /journeys/{id}`, `GET /journeys?first=`, `POST
/journeys` (a `CreateJourneyInput`), `POST /events` (the body `trackEvents` is sent). A
refusal answers its HTTP status and `{"error": code}`. It imports nothing of the project."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from peer_db import Caller, Db, Refused, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


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
        body = await request.json()
        return await db.transition(caller, body["id"], body["action"])

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

    routes = [Route("/transition", route(transition), methods=["POST"]),
              Route("/journeys/{id}", route(journey)), Route("/journeys", route(journeys)),
              Route("/journeys", route(create), methods=["POST"]),
              Route("/events", route(events), methods=["POST"]),
              Route("/healthz", lambda _: PlainTextResponse("ok"))]  # fmt: skip
    return Starlette(routes=routes, lifespan=db.lifespan)


if __name__ == "__main__":
    serve(app_of)
