"""The Starlette application: /graphql (HTTP and WebSocket) and the operations endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from domain.errors import Unauthenticated
from gql.context import Context
from gql.customer_import import customer_import
from gql.dashboard import dashboard_routes, graphiql_html
from gql.http import GraphQLOverHTTP
from gql.limits import RequestLimits
from gql.live.runtime import LiveRuntime
from gql.live.transport import GraphQLWSHandler, TransportWSHandler
from gql.request_ids import RequestIds
from gql.schema import JourneysSchema, schema_for
from gql.serving import GoingAwayWebSocketProtocol, http_protocol
from gql.uploads import audience_upload
from jobs.loop import Runner
from service.services import Services
from service.settings import Settings
from service.stopping import STOP_SECONDS, stop_all

log = logging.getLogger(__name__)


# A dashboard needs a handful; a cap keeps one socket from holding thousands.
MAX_OPERATIONS_PER_CONNECTION = 50


class JourneysGraphQL(GraphQL[Context, None]):
    """/graphql: HTTP answered by gql/http.py, WebSockets by Strawberry's handlers as
    gql/live/transport.py extends them, which reach the live runtime as `live`."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = GraphQLWSHandler

    def __init__(self, services: Services, schema: JourneysSchema, live: LiveRuntime) -> None:
        super().__init__(
            schema,
            # GraphiQL needs introspection: both go together.
            graphql_ide="graphiql" if services.settings.schema_is_public else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=services.settings.ws_init_seconds),
            max_subscriptions_per_connection=MAX_OPERATIONS_PER_CONNECTION,
        )
        self.services = services
        self.live = live
        self.http = GraphQLOverHTTP(self)

    @property
    def graphql_ide_html(self) -> str:
        # Strawberry's page loads React and GraphiQL from a CDN; this one from /static/.
        return graphiql_html()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # HTTP is answered by gql/http.py (GraphQL over HTTP, refusals as
        # GraphQL responses); WebSockets by Strawberry's handlers (gql/live/).
        if scope["type"] == "http":
            response = await self.http(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        # A WebSocket frame nested too deeply for the parser is invalid JSON
        # (closed with 4400), not a crash.
        try:
            return json.loads(data)
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", "", 0) from None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        return Context(
            services=self.services,
            request=request,
            response=response if isinstance(response, Response) else None,
        )

    async def on_ws_connect(self, context: Context) -> None:
        try:
            await context.principal()
        except Unauthenticated as refusal:
            raise ConnectionRejectionError(
                {"message": refusal.message, "extensions": {"code": refusal.code}}
            ) from None


GRACEFUL_SHUTDOWN_SECONDS = 30

# WebSocket handshakes the kernel may queue: after a restart, every
# dashboard reconnects at once.
LISTEN_BACKLOG = 4096


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for this app, wherever it is served."""
    return {
        # Protocol-level pings on every WebSocket, whatever its subprotocol:
        # a client gone without a close frame is dropped after two intervals.
        "ws_ping_interval": settings.ws_ping_seconds,
        "ws_ping_timeout": settings.ws_ping_seconds,
        "ws_per_message_deflate": settings.ws_deflate,
        "ws_max_size": settings.ws_max_bytes,
        "backlog": LISTEN_BACKLOG,
    }


def serve_options(settings: Settings) -> dict[str, Any]:
    """`server_options` (plain values, which the benchmarks hand to their peer
    servers as JSON) and the HTTP protocol with a deadline for a request's
    headers, against slow clients (gql/serving.py; the body's is gql/limits.py's)."""
    return {
        **server_options(settings),
        "http": http_protocol(settings.header_timeout_seconds),
        # Graceful shutdown: requests under way get this long to finish, and open
        # WebSockets are closed with 1001 ("going away": reconnect and resume).
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "ws": GoingAwayWebSocketProtocol,
    }


def create_app(services: Services, runners: Sequence[Runner] = ()) -> Starlette:
    """The app, which also runs `runners` while it serves (see `jobs.runners.runners_for`)."""
    schema = schema_for(services.settings.schema_is_public)
    live = LiveRuntime(schema, services.settings, services.tokens)
    live.report_to(services.metrics)
    graphql = JourneysGraphQL(services, schema, live)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await services.start()
        live.start()
        running = [asyncio.create_task(runner.run()) for runner in runners]
        try:
            yield
        finally:
            # The requests are answered: the batches under way finish (service/stopping.py).
            if await stop_all(runners, running, STOP_SECONDS):
                log.warning(
                    "stopping: background work still busy %d s after the last request was "
                    "cancelled; its uncommitted batch was rolled back, to be done again",
                    STOP_SECONDS,
                )
            await live.close()
            await services.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        report: dict[str, str] = {}
        for name, ping in services.dependencies().items():
            try:
                await ping()
                report[name] = "ok"
            except Exception as error:  # any failure means "not ready", whatever its kind
                log.warning("readiness check of %s failed: %s", name, error)
                report[name] = "unreachable"
        ready = all(state == "ok" for state in report.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", **report}, 200 if ready else 503
        )

    async def metrics(_request: Request) -> Response:
        return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            # Every method: gql/http.py answers the ones it does not take (405).
            Route("/graphql", graphql, methods=None),
            WebSocketRoute("/graphql", graphql),
            Route("/journeys/{journey_id}/audience", audience_upload(services), methods=["POST"]),
            Route("/customers", customer_import(services), methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *dashboard_routes(),
        ],
        middleware=[
            # Outermost: even a refusal at the door carries its request id.
            Middleware(RequestIds),
            *_cors(services.settings.cors_origins),
            Middleware(
                RequestLimits,
                max_body_bytes=services.settings.max_body_bytes,
                body_timeout_seconds=services.settings.body_timeout_seconds,
            ),
        ],
        lifespan=lifespan,
    )


def _cors(origins: Sequence[str]) -> list[Middleware]:
    """Browsers on these origins may call the API (JOURNEYS_CORS_ORIGINS; none by
    default: the dashboard is served from the API's own origin)."""
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "accept", "x-request-id"],
            expose_headers=["x-request-id", "retry-after"],
            max_age=600,
        )
    ]
