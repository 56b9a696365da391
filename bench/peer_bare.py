"""The bare peer: Starlette routes straight on the raw driver, no GraphQL, no ORM.

The same SQL as the project (see `peer_common.py`), through `sqlite3` or async `psycopg`
(`peer_sqlite.py`, `peer_postgres.py`), as JSON over HTTP:

* `POST /transition` `{"id": ..., "action": "pause" | "resume" | "activate"}` ->
  `{"id", "status", "revision"}`;
* `GET /journeys/{id}` -> `{"id", "name", "status", "revision", "labels", "availableActions"}`;
* `GET /journeys?first=50` -> `{"totalCount", "edges": [{"node": ...}]}`;
* `POST /journeys` with a `CreateJourneyInput` as JSON -> the journey, as above.

A refusal answers `{"error": {"code", "message"}}` with a 4xx status. Served by uvicorn with
the project server's options (`--uvicorn-options`). Started by the benchmarks:
`python bench/peer_bare.py --port P --database-url URL --uvicorn-options JSON`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from peer_common import MOVES, NewJourney, Refused, Store, healthz, serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

Handler = Callable[[Request], Awaitable[Response]]


def refusals(handler: Handler) -> Handler:
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refusal:
            body = {"error": {"code": refusal.code, "message": refusal.message}}
            return JSONResponse(body, refusal.http_status)

    return answer


def routes(store: Store) -> list[BaseRoute]:
    @refusals
    async def transition(request: Request) -> Response:
        caller = await store.writer(request.headers.get("authorization"))
        body: dict[str, Any] = await request.json()
        move = MOVES.get(str(body.get("action")))
        if move is None:
            raise Refused("VALIDATION_FAILED", f"action must be one of {sorted(MOVES)}")
        journey_id = str(body["id"])
        status, revision = await store.transition(caller, journey_id, move)
        return JSONResponse({"id": journey_id, "status": status, "revision": revision})

    @refusals
    async def journey(request: Request) -> Response:
        caller = await store.caller(request.headers.get("authorization"))
        found = await store.journey(caller, request.path_params["id"])
        if found is None:
            raise Refused("NOT_FOUND", "no such journey in your workspace")
        return JSONResponse(found.as_json())

    @refusals
    async def journeys(request: Request) -> Response:
        caller = await store.caller(request.headers.get("authorization"))
        total, page = await store.journeys(caller, int(request.query_params.get("first", "20")))
        edges = [{"node": view.as_json()} for view in page]
        return JSONResponse({"totalCount": total, "edges": edges})

    @refusals
    async def create(request: Request) -> Response:
        caller = await store.writer(request.headers.get("authorization"))
        created = await store.create(caller, NewJourney.of(await request.json()))
        return JSONResponse(created.as_json())

    return [
        Route("/transition", transition, methods=["POST"]),
        Route("/journeys", journeys, methods=["GET"]),
        Route("/journeys", create, methods=["POST"]),
        Route("/journeys/{id}", journey, methods=["GET"]),
        Route("/healthz", healthz),
    ]


if __name__ == "__main__":
    serve(routes, __doc__.splitlines()[0] if __doc__ else "")
