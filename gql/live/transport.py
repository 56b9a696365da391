"""The two WebSocket protocols, with every frame written through the socket's
Outbox and every subscription served by the shared fan-out.

Strawberry's handlers keep doing the protocol work (connection_init, ping,
the operation limit, queries and mutations sent over the socket); what
changes is that nothing they send waits for the network, and that a
subscription is not executed per socket but joins the Multiplexer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, cast

from graphql import GraphQLFormattedError
from starlette.websockets import WebSocket
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage as TransportWSConnectionInit,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from gql.context import Context
from gql.limits import variables_problem
from gql.live.heap import LongLivedHeap
from gql.live.multiplex import LiveRequest
from gql.live.outbox import Outbox
from gql.live.shape import subscription_shape
from service.tokens import Tokens

if TYPE_CHECKING:
    from gql.app import JourneysGraphQL

log = logging.getLogger(__name__)

# Close code for a token that stopped being valid while the socket was open.
FORBIDDEN = 4403
# Close code for a frame that is not a message of the protocol (both protocols).
BAD_MESSAGE = 4400


def message_problem(message: object) -> str | None:
    """Why a WebSocket frame is not a message either protocol can handle, if it
    is not: Strawberry's handlers index into it and would fail on anything else."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "a message must be a JSON object with a string 'type'"
    kind = message["type"]
    if kind in ("subscribe", "start", "complete", "stop") and not isinstance(
        message.get("id"), str
    ):
        return f"a '{kind}' message needs a string 'id'"
    if kind in ("subscribe", "start"):
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return f"a '{kind}' message needs a payload object with a string 'query'"
        if not isinstance(payload.get("variables"), dict | None):
            return "'variables' must be an object or null"
        if not isinstance(payload.get("operationName"), str | None):
            return "'operationName' must be a string or null"
    return None


def _outbox(context: Context, view: JourneysGraphQL) -> Outbox:
    assert isinstance(context.request, WebSocket)
    settings = view.services.settings
    return Outbox(context.request, settings.ws_outbox_frames, settings.ws_outbox_bytes)


# graphql-transport-ws's close for "no connection_init in time", used for both protocols.
INIT_TIMEOUT = 4408


class _OutboxSocket(AsyncWebSocketAdapter):
    """The socket as Strawberry's handlers see it: what they send is queued
    on the Outbox, and a close comes after what was queued before it."""

    def __init__(self, socket: AsyncWebSocketAdapter, outbox: Outbox) -> None:
        super().__init__(socket.view)
        self._socket = socket
        self._outbox = outbox

    def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        return self._socket.iter_json(ignore_parsing_errors=ignore_parsing_errors)

    async def send_json(self, message: Mapping[str, object]) -> None:
        self._outbox.put(json.dumps(message))

    async def close(self, code: int, reason: str) -> None:
        await self._outbox.close(code, reason)


def _live_request(
    context: Context, query: str, variables: object, operation_name: str | None
) -> LiveRequest | None:
    if variables is not None and not isinstance(variables, Mapping):
        return None  # Strawberry's own path refuses it with the right error
    if variables_problem(variables) is not None:
        return None  # nor is it the fan-out's to key on: JourneysSchema.stream refuses it
    return LiveRequest(query, variables or {}, operation_name, context)


if TYPE_CHECKING:

    class _Handler:
        """What the mixin below uses of either protocol's Strawberry handler (its `super()`)."""

        view: Any
        context: Context
        websocket: AsyncWebSocketAdapter
        connection_acknowledged: bool

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

        async def handle(self) -> None: ...

        async def handle_connection_init(self, message: Any) -> None: ...

        async def handle_message(self, message: Any) -> None: ...

else:
    _Handler = object


class _LiveSocket(_Handler):
    """What both protocols' handlers add to Strawberry's: the socket's Outbox, and a place
    among the open connections once acknowledged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live_view = cast("JourneysGraphQL", self.view)
        self.outbox = _outbox(self.context, self.live_view)
        self.websocket = _OutboxSocket(self.websocket, self.outbox)

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            self.live_view.connections.discard(self)
            await self.outbox.aclose()

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            self.live_view.connections.add(self)

    async def handle_message(self, message: Any) -> None:
        if problem := message_problem(message):
            await self.websocket.close(BAD_MESSAGE, problem)
            return
        await super().handle_message(message)


class TransportWSHandler(_LiveSocket, BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws (the npm `graphql-ws` client's protocol)."""

    async def handle_connection_init(self, message: TransportWSConnectionInit) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            # Cancelled once connection_init came; held, it would keep its traceback.
            self.connection_init_timeout_task = None

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        shape = subscription_shape(operation.query, operation.operation_name)
        request = _live_request(
            self.context, operation.query, operation.variables, operation.operation_name
        )
        if shape is None or request is None:
            await super().run_operation(operation)
            return
        subscriber = _TransportWSSubscriber(self.outbox, operation)
        try:
            await self.live_view.multiplexer.serve(request, shape, subscriber)
        except Exception as error:
            await self.handle_task_exception(error)
            await subscriber.complete()


class _Subscriber:
    """One subscription's frames on one socket: results queued on its Outbox
    behind the protocol's prefix for this operation id."""

    def __init__(self, outbox: Outbox, prefix: str) -> None:
        self._outbox = outbox
        self._prefix = prefix

    def next(self, payload: str) -> None:
        self._outbox.put(self._prefix + payload + "}")

    async def next_waiting(self, payload: str) -> None:
        await self._outbox.put_waiting(self._prefix + payload + "}")

    def fell_behind(self) -> None:
        self._outbox.close_for_resume()


class _TransportWSSubscriber(_Subscriber):
    def __init__(self, outbox: Outbox, operation: Operation[Context, None]) -> None:
        super().__init__(outbox, '{"id":' + json.dumps(operation.id) + ',"type":"next","payload":')
        self._operation = operation

    async def error(self, errors: list[GraphQLFormattedError]) -> None:
        message = {"id": self._operation.id, "type": "error", "payload": errors}
        await self._operation.send_operation_message(message)  # type: ignore[arg-type]

    async def complete(self) -> None:
        await self._operation.send_operation_message({"id": self._operation.id, "type": "complete"})


class GraphQLWSHandler(_LiveSocket, BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (subscriptions-transport-ws).

    Strawberry gives this protocol no deadline for `connection_init`, so a socket
    that never sends one would stay open, uncounted, for ever: it gets the same
    deadline as graphql-transport-ws, and the same close (4408)."""

    async def handle(self) -> None:
        loop = asyncio.get_running_loop()
        seconds = self.live_view.connection_init_wait_timeout.total_seconds()
        deadline = loop.call_later(seconds, self._init_timed_out)
        try:
            await super().handle()
        finally:
            deadline.cancel()

    def _init_timed_out(self) -> None:
        if not self.connection_acknowledged:
            closing = asyncio.create_task(
                self.websocket.close(INIT_TIMEOUT, "Connection initialisation timeout")
            )
            self._closing = closing  # held until done: a task nobody holds may vanish

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        shape = subscription_shape(query, operation_name)
        request = _live_request(self.context, query, variables, operation_name)
        if shape is None or request is None:
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            await self.live_view.multiplexer.serve(
                request, shape, _GraphQLWSSubscriber(self, operation_id)
            )
        except asyncio.CancelledError:
            # A `stop` from the client: this protocol answers it with `complete`.
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.tasks.pop(operation_id, None)


class _GraphQLWSSubscriber(_Subscriber):
    def __init__(self, handler: GraphQLWSHandler, operation_id: str) -> None:
        super().__init__(
            handler.outbox, '{"type":"data","id":' + json.dumps(operation_id) + ',"payload":'
        )
        self._handler = handler
        self._id = operation_id

    async def error(self, errors: list[GraphQLFormattedError]) -> None:
        # This protocol's `error` carries one error, not a list.
        message = {"type": "error", "id": self._id, "payload": errors[0]}
        await self._handler.send_message(message)  # type: ignore[arg-type]

    async def complete(self) -> None:
        await self._handler.send_message({"type": "complete", "id": self._id})


class Connections:
    """The acknowledged WebSockets of this process, for checking their tokens again."""

    def __init__(self, heap: LongLivedHeap) -> None:
        self._open: set[_LiveSocket] = set()
        self._heap = heap

    def add(self, handler: _LiveSocket) -> None:
        self._open.add(handler)
        self._heap.connection_opened()

    def discard(self, handler: _LiveSocket) -> None:
        self._open.discard(handler)

    def __len__(self) -> int:
        return len(self._open)

    async def recheck_tokens(self, tokens: Tokens) -> int:
        """Close (4403) every socket whose token was revoked or expired; how many were."""
        by_token: dict[str | None, list[_LiveSocket]] = {}
        for handler in self._open:
            by_token.setdefault(handler.context.authorization(), []).append(handler)
        closed = 0
        for authorization, handlers in by_token.items():
            if await tokens.still_valid(authorization):
                continue
            for handler in handlers:
                self._open.discard(handler)
                await handler.outbox.close(FORBIDDEN, "the token was revoked or has expired")
                closed += 1
        return closed
