"""The bare peer of customers.py's events phase: one Starlette route on async psycopg, no
GraphQL. It imports nothing of the project.

`POST /events` takes the very body the project's `trackEvents` is sent (`{"query",
"variables": {"events": [{"name", "customerId", "properties"}, ...]}}`), authenticates the
token as the other peers do (`peer_common.Store.writer`: editor or admin, trusted 5 s),
checks each event (a name, a customer id, properties an object) and inserts them all into
`bench_peer.customer_events` (the project's `customer_events` shape, peer_customers.py) in
one multi-row INSERT, committed; it answers `{"inserted": n}`. Started by the harness as the
other peers are: `python bench/peer_events.py --port P --database-url URL`.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

from peer_common import Caller, Refused, Result, Sql, Store, healthz, serve
from peer_customers import SCHEMA
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

MAX_EVENTS = 1_000


def rows_of(store: Store, caller: Caller, body: Any) -> list[Any]:
    """The parameters of the INSERT, six a row; Refused for a malformed event."""
    try:
        events = body["variables"]["events"]
    except (KeyError, TypeError):
        raise Refused("VALIDATION_FAILED", "the body has no variables.events") from None
    if not isinstance(events, list) or not 0 < len(events) <= MAX_EVENTS:
        raise Refused("VALIDATION_FAILED", f"events: a list of 1 to {MAX_EVENTS} events")
    now = datetime.now(UTC)
    params: list[Any] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Refused("VALIDATION_FAILED", f"events[{index}]: an object")
        name, customer = event.get("name"), event.get("customerId")
        properties = event.get("properties") or {}
        if not (isinstance(name, str) and name and isinstance(customer, str) and customer):
            raise Refused("VALIDATION_FAILED", f"events[{index}]: a name and a customerId")
        if not isinstance(properties, dict):
            raise Refused("VALIDATION_FAILED", f"events[{index}]: properties is an object")
        params += [caller.workspace_id, customer, name, store.dialect.json(properties), now, now]
    return params


def insert(params: list[Any]) -> Generator[Sql, Result, int]:
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * (len(params) // 6))
    _, count = yield Sql(
        f"INSERT INTO {SCHEMA}.customer_events (workspace_id, customer_id, name, properties, "
        f"at, recorded_at) VALUES {values}",
        tuple(params),
    )
    return count


def routes(store: Store) -> list[BaseRoute]:
    async def events(request: Request) -> Response:
        try:
            caller = await store.writer(request.headers.get("authorization"))
            params = rows_of(store, caller, await request.json())
        except Refused as refusal:
            body = {"error": {"code": refusal.code, "message": refusal.message}}
            return JSONResponse(body, refusal.http_status)
        inserted = await store.run(insert(params), write=True)
        return JSONResponse({"inserted": inserted})

    return [Route("/events", events, methods=["POST"]), Route("/healthz", healthz)]


if __name__ == "__main__":
    serve(routes, __doc__.splitlines()[0] if __doc__ else "")
