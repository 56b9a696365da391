"""The framework floor: a minimal Strawberry schema on the raw driver.

What any Strawberry service on this stack must at least spend: Strawberry's ASGI `GraphQL`
app, mounted on Starlette at `/graphql` and served by uvicorn with the project server's
options, the parser and validation caches (`ParserCache`, `ValidationCache`, given as
factories as the project gives them), and resolvers that run the same SQL as the project
(`peer_common.py`) through `sqlite3` or async `psycopg`. Nothing else: no dataloaders, no
domain objects, no error mapping beyond `extensions.code`; `availableActions` is a literal
status -> actions dict.

Its schema is a subset of the project's, under the same names, so the benchmarks send both
servers the same documents:

    mutation { pauseJourney(id) / resumeJourney(id) / activateJourney(id) { id status revision } }
    mutation { createJourney(input: CreateJourneyInput!) { id status ... } }
    mutation { trackEvents(events: [TrackEventInput!]!) { entered { id } } }
    query { journey(id) { id name status revision labels availableActions } }
    query { journeys(first: Int) { totalCount edges { node { ... } } } }

The mutations that change a status answer a `StatusChange` (id, status, revision,
availableActions): that is all a transition reads. `trackEvents` is customers.py's events
floor: it checks and stores the events as `peer_events.py` does (one multi-row INSERT), and
answers each event's `entered` as the ACTIVE event-triggered journeys of the workspace that
listen for its name (one SELECT a call, of the project's `journeys`): no admission, no
`triggerWhere`, so it answers at least as many journeys as the project enters. Started by
the benchmarks: `python bench/peer_floor.py --port P --database-url URL --uvicorn-options JSON`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from peer_common import (
    AVAILABLE_ACTIONS,
    MOVES,
    Caller,
    JourneyView,
    NewJourney,
    Refused,
    Result,
    Sql,
    Store,
    Work,
    healthz,
    serve,
)
from peer_events import insert, rows_of
from starlette.routing import BaseRoute, Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.scalars import JSON
from strawberry.types import Info


@strawberry.enum
class JourneyStatus(Enum):
    DESIGNING = "DESIGNING"
    SCHEDULED = "SCHEDULED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    CLOSED = "CLOSED"
    FROZEN = "FROZEN"
    ERROR = "ERROR"
    ABORTED = "ABORTED"


@strawberry.enum
class JourneyAction(Enum):
    ACTIVATE = "ACTIVATE"
    START = "START"
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    FREEZE = "FREEZE"
    CLOSE = "CLOSE"
    END = "END"
    AUDIENCE_LOADED = "AUDIENCE_LOADED"
    REACTIVATE = "REACTIVATE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    RECOVER = "RECOVER"


@strawberry.enum
class JourneyKind(Enum):
    EVENT_TRIGGERED = "EVENT_TRIGGERED"
    SEGMENT_SCHEDULED = "SEGMENT_SCHEDULED"


@strawberry.enum
class StepType(Enum):
    WAIT = "WAIT"
    SEND = "SEND"


ACTIONS: dict[str, list[JourneyAction]] = {
    status: [JourneyAction(action) for action in actions]
    for status, actions in AVAILABLE_ACTIONS.items()
}


@strawberry.type
class StatusChange:
    id: strawberry.ID
    status: JourneyStatus
    revision: int

    @strawberry.field
    def available_actions(self) -> list[JourneyAction]:
        return ACTIONS[self.status.value]


@strawberry.type
class Journey:
    id: strawberry.ID
    name: str
    kind: JourneyKind
    status: JourneyStatus
    revision: int
    labels: list[str]

    @strawberry.field
    def available_actions(self) -> list[JourneyAction]:
        return ACTIONS[self.status.value]

    @classmethod
    def of(cls, view: JourneyView) -> Journey:
        return cls(
            id=strawberry.ID(view.id),
            name=view.name,
            kind=JourneyKind(view.kind),
            status=JourneyStatus(view.status),
            revision=view.revision,
            labels=view.labels,
        )


@strawberry.type
class JourneyEdge:
    node: Journey


@strawberry.type
class JourneyConnection:
    total_count: int
    edges: list[JourneyEdge]


@strawberry.input
class StepInput:
    type: StepType
    seconds: int | None = None
    channel: str | None = None
    template: str | None = None


@strawberry.input
class CreateJourneyInput:
    name: str
    kind: JourneyKind
    trigger_event: str | None = None
    steps: list[StepInput] | None = None
    labels: list[str] | None = None


@strawberry.input
class TrackEventInput:
    name: str
    customer_id: str
    properties: JSON | None = None
    at: datetime | None = None


@strawberry.type
class EnteredJourney:
    id: strawberry.ID


@strawberry.type
class TrackResult:
    entered: list[EnteredJourney]


LISTENING = (
    "SELECT id, trigger_event FROM journeys WHERE workspace_id = %s AND kind = "
    "'EVENT_TRIGGERED' AND status = 'ACTIVE' AND trigger_event = ANY(%s)"
)


def store_of(info: Info[Any, None]) -> Store:
    store: Store = info.context["store"]
    return store


async def caller_of(info: Info[Any, None], *, write: bool = False) -> Caller:
    store = store_of(info)
    authorization = info.context["request"].headers.get("authorization")
    try:
        return await (store.writer(authorization) if write else store.caller(authorization))
    except Refused as refusal:
        raise GraphQLError(refusal.message, extensions={"code": refusal.code}) from None


async def change(info: Info[Any, None], journey_id: str, move: str) -> StatusChange:
    caller = await caller_of(info, write=True)
    try:
        status, revision = await store_of(info).transition(caller, journey_id, MOVES[move])
    except Refused as refusal:
        raise GraphQLError(refusal.message, extensions={"code": refusal.code}) from None
    return StatusChange(
        id=strawberry.ID(journey_id), status=JourneyStatus(status), revision=revision
    )


@strawberry.type
class Query:
    @strawberry.field
    async def journey(self, info: Info[Any, None], id: strawberry.ID) -> Journey | None:
        found = await store_of(info).journey(await caller_of(info), str(id))
        return Journey.of(found) if found else None

    @strawberry.field
    async def journeys(self, info: Info[Any, None], first: int | None = None) -> JourneyConnection:
        caller = await caller_of(info)
        try:
            total, page = await store_of(info).journeys(caller, 20 if first is None else first)
        except Refused as refusal:
            raise GraphQLError(refusal.message, extensions={"code": refusal.code}) from None
        edges = [JourneyEdge(node=Journey.of(view)) for view in page]
        return JourneyConnection(total_count=total, edges=edges)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def pause_journey(self, info: Info[Any, None], id: strawberry.ID) -> StatusChange:
        return await change(info, str(id), "pause")

    @strawberry.mutation
    async def resume_journey(self, info: Info[Any, None], id: strawberry.ID) -> StatusChange:
        return await change(info, str(id), "resume")

    @strawberry.mutation
    async def activate_journey(self, info: Info[Any, None], id: strawberry.ID) -> StatusChange:
        return await change(info, str(id), "activate")

    @strawberry.mutation
    async def create_journey(self, info: Info[Any, None], input: CreateJourneyInput) -> Journey:
        caller = await caller_of(info, write=True)
        given = {
            "name": input.name,
            "kind": input.kind.value,
            "triggerEvent": input.trigger_event,
            "labels": input.labels,
            "steps": [
                {**dataclasses.asdict(step), "type": step.type.value} for step in input.steps or []
            ],
        }
        try:
            created = await store_of(info).create(caller, NewJourney.of(given))
        except Refused as refusal:
            raise GraphQLError(refusal.message, extensions={"code": refusal.code}) from None
        return Journey.of(created)

    @strawberry.mutation
    async def track_events(
        self, info: Info[Any, None], events: list[TrackEventInput]
    ) -> list[TrackResult]:
        caller = await caller_of(info, write=True)
        given = [
            {"name": e.name, "customerId": e.customer_id, "properties": e.properties}
            for e in events
        ]
        store = store_of(info)
        try:
            params = rows_of(store, caller, {"variables": {"events": given}})
        except Refused as refusal:
            raise GraphQLError(refusal.message, extensions={"code": refusal.code}) from None
        await store.run(insert(params), write=True)
        names = sorted({event.name for event in events})
        rows, _ = await store.run(_select(LISTENING, caller.workspace_id, names), write=False)
        listening: dict[str, list[EnteredJourney]] = {}
        for journey_id, trigger in rows:
            listening.setdefault(trigger, []).append(EnteredJourney(id=strawberry.ID(journey_id)))
        return [TrackResult(entered=listening.get(event.name, [])) for event in events]


def _select(text: str, *params: Any) -> Work[Result]:
    result = yield Sql(text, params)
    return result


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256)],
)


class FloorGraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, store: Store) -> None:
        super().__init__(schema, graphql_ide=None)
        self.store = store

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        return {"request": request, "response": response, "store": self.store}


def routes(store: Store) -> list[BaseRoute]:
    return [
        Route("/graphql", FloorGraphQL(store), methods=["GET", "POST"]),
        Route("/healthz", healthz),
    ]


if __name__ == "__main__":
    serve(routes, __doc__.splitlines()[0] if __doc__ else "")
