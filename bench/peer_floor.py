"""The framework floor: Strawberry on Starlette with the project's parser and validation
caches, resolvers on peer_db.py, a subset of the project's schema under the same names (so
both take the same documents); `trackEvents` stores the events and names those listening."""

from typing import Any

import strawberry
from graphql import GraphQLError
from peer_db import Db, Refused, serve
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.scalars import JSON
from strawberry.types import Info


@strawberry.type
class Journey:
    id: strawberry.ID
    status: str
    revision: int
    name: str | None = None
    labels: list[str] | None = None
    available_actions: list[str] | None = None


@strawberry.type
class JourneyEdge:
    node: Journey


@strawberry.type
class JourneyConnection:
    total_count: int
    edges: list[JourneyEdge]


@strawberry.input
class StepInput:
    type: str
    channel: str | None = None
    template: str | None = None


@strawberry.input
class CreateJourneyInput:
    name: str
    kind: str
    trigger_event: str | None = None
    steps: list[StepInput] | None = None
    labels: list[str] | None = None


@strawberry.input
class TrackEventInput:
    name: str
    customer_id: str
    properties: JSON | None = None


@strawberry.type
class Entered:
    id: strawberry.ID


@strawberry.type
class TrackResult:
    entered: list[Entered]


async def ask(info: Info[Any, None], work: str, *args: Any) -> Any:
    """`Db.<work>` for the caller's token; a refusal as a GraphQL error with its code."""
    db: Db = info.context["request"].app.state.db
    try:
        caller = await db.writer(info.context["request"].headers.get("authorization"))
        return await getattr(db, work)(caller, *args)
    except Refused as refusal:
        raise GraphQLError(refusal.code, extensions={"code": refusal.code}) from None


def journey_of(view: dict[str, Any]) -> Journey:
    fields = {key: view[key] for key in ("id", "name", "status", "revision", "labels")}
    return Journey(**fields, available_actions=view["availableActions"])


def mover(action: str) -> Any:
    """The `<action>Journey(id)` mutation's resolver."""

    async def move(info: Info[Any, None], id: strawberry.ID) -> Journey:
        return Journey(**await ask(info, "transition", str(id), action))  # id, status, revision

    return move


@strawberry.type
class Query:
    @strawberry.field
    async def journey(self, info: Info[Any, None], id: strawberry.ID) -> Journey | None:
        _, found = await ask(info, "journeys", str(id))
        return journey_of(found[0]) if found else None

    @strawberry.field
    async def journeys(self, info: Info[Any, None], first: int = 20) -> JourneyConnection:
        total, page = await ask(info, "journeys", None, first)
        edges = [JourneyEdge(node=journey_of(view)) for view in page]
        return JourneyConnection(total_count=total, edges=edges)


@strawberry.type
class Mutation:
    pause_journey: Journey = strawberry.mutation(resolver=mover("pause"))
    resume_journey: Journey = strawberry.mutation(resolver=mover("resume"))
    activate_journey: Journey = strawberry.mutation(resolver=mover("activate"))

    @strawberry.mutation
    async def create_journey(self, info: Info[Any, None], input: CreateJourneyInput) -> Journey:
        steps = [vars(step) for step in input.steps or []]
        given = {"name": input.name, "kind": input.kind, "triggerEvent": input.trigger_event,
                 "labels": input.labels, "steps": steps}  # fmt: skip
        return journey_of(await ask(info, "create", given))

    @strawberry.mutation
    async def track_events(
        self, info: Info[Any, None], events: list[TrackEventInput]
    ) -> list[TrackResult]:
        given = [
            {"name": e.name, "customerId": e.customer_id, "properties": e.properties}
            for e in events
        ]
        await ask(info, "insert_events", given)
        listening = await ask(info, "listening", sorted({event.name for event in events}))
        return [
            TrackResult(entered=[Entered(id=strawberry.ID(j)) for j in listening[event.name]])
            for event in events
        ]


def app_of(db: Db) -> Starlette:
    caches = [lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256)]
    schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=caches)
    routes = [Route("/graphql", GraphQL(schema, graphql_ide=None), methods=["POST"]),
              Route("/healthz", lambda _: PlainTextResponse("ok"))]  # fmt: skip
    app = Starlette(routes=routes, lifespan=db.lifespan)
    app.state.db = db  # where the resolvers find it
    return app


if __name__ == "__main__":
    serve(app_of)
