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
from typing import Any, Protocol, runtime_checkable

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
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message as TransportWSMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as GraphQLWSConnectionInit,
)
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from gql.context import Context
from gql.limits import variables_problem
from gql.live.multiplex import LiveRequest
from gql.live.outbox import Outbox
from gql.live.runtime import LiveRuntime
from gql.live.shape import subscription_shape

log = logging.getLogger(__name__)

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


@runtime_checkable
class LiveView(Protocol):
    """The view that makes the handlers (gql/app.py's), as they see it: it carries the
    app's live runtime."""

    live: LiveRuntime


class _LiveSocket:
    """What both protocols' handlers add to Strawberry's, each from its own overrides of
    `__init__`, `handle`, `handle_connection_init` and `handle_message`: the socket's
    Outbox, the check of every message, and a place among the open connections once
    acknowledged. It holds the handler's view and context, not the handler, so that it
    makes no reference cycle with it (gql/live/heap.py says what those cost)."""

    def __init__(self, view: object, context: Context) -> None:
        if not isinstance(view, LiveView):
            raise TypeError("a live socket is made by a view that carries the live runtime")
        assert isinstance(context.request, WebSocket)
        self.runtime = view.live
        self.outbox = self.runtime.outbox(context.request)
        self._context = context

    def socket(self, websocket: AsyncWebSocketAdapter) -> AsyncWebSocketAdapter:
        """The socket the handler writes to from now on: through the Outbox."""
        return _OutboxSocket(websocket, self.outbox)

    async def refused(self, message: object) -> bool:
        """Whether `message` is not one of the protocol's: then the socket is closing (4400)."""
        if problem := message_problem(message):
            await self.outbox.close(BAD_MESSAGE, problem)
            return True
        return False

    def acknowledged(self) -> None:
        self.runtime.connections.add(self)

    async def closed(self) -> None:
        self.runtime.connections.discard(self)
        await self.outbox.aclose()

    # -- an open socket, as gql/live/connections.py sees it ------------------

    def authorization(self) -> str | None:
        return self._context.authorization()

    async def close(self, code: int, reason: str) -> None:
        await self.outbox.close(code, reason)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws (the npm `graphql-ws` client's protocol)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live = _LiveSocket(self.view, self.context)
        self.websocket = self.live.socket(self.websocket)

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            await self.live.closed()

    async def handle_message(self, message: TransportWSMessage) -> None:
        if not await self.live.refused(message):
            await super().handle_message(message)

    async def handle_connection_init(self, message: TransportWSConnectionInit) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            self.live.acknowledged()
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
        subscriber = _TransportWSSubscriber(self.live.outbox, operation)
        try:
            await self.live.runtime.multiplexer.serve(request, shape, subscriber)
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


class GraphQLWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (subscriptions-transport-ws).

    Strawberry gives this protocol no deadline for `connection_init`, so a socket
    that never sends one would stay open, uncounted, for ever: it gets the same
    deadline as graphql-transport-ws, and the same close (4408)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live = _LiveSocket(self.view, self.context)
        self.websocket = self.live.socket(self.websocket)

    async def handle(self) -> None:
        loop = asyncio.get_running_loop()
        seconds = self.view.connection_init_wait_timeout.total_seconds()
        deadline = loop.call_later(seconds, self._init_timed_out)
        try:
            await super().handle()
        finally:
            deadline.cancel()
            await self.live.closed()

    async def handle_message(self, message: OperationMessage) -> None:
        if not await self.live.refused(message):
            await super().handle_message(message)

    async def handle_connection_init(self, message: GraphQLWSConnectionInit) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            self.live.acknowledged()

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
            await self.live.runtime.multiplexer.serve(
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
            handler.live.outbox, '{"type":"data","id":' + json.dumps(operation_id) + ',"payload":'
        )
        self._handler = handler
        self._id = operation_id

    async def error(self, errors: list[GraphQLFormattedError]) -> None:
        # This protocol's `error` carries one error, not a list.
        message = {"type": "error", "id": self._id, "payload": errors[0]}
        await self._handler.send_message(message)  # type: ignore[arg-type]

    async def complete(self) -> None:
        await self._handler.send_message({"type": "complete", "id": self._id})
