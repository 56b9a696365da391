"""Live subscriptions executed once per distinct document, whatever the number of sockets.

Subscriptions of one workspace and role with the same document, operation
name and variables share one *shared operation*: it executes each live
event once, serializes the result once, and every subscriber's socket gets
the frame queued on its Outbox. (The role is part of the key because a few
fields, such as `availableActions`, depend on it.)

`after` is what differs between dashboards that resume after a
disconnection, so a variable used only as the root field's `after` is left
out of the key. A subscriber with `after` first gets its own replay of the
log, executed for it alone, then is handed to the shared operation: join
first and hold what the shared operation sends, wait until it listens to the
live events, replay, then release what was held, skipping any event the
replay already sent.

A subscriber that joins a shared operation already under way has missed the
frames sent before it came. Of changes (status events, journey signals) it
is owed none: it hears those made from then on (a replay covers the rest).
A subscription of a current value (`Live.current`: the counts) owes it the
value now, which the shared operation read before it came: the operation
keeps its latest frame, and a joiner is sent it in the same step that makes
it a member, so no newer frame can come before it and the frames after it
are the others', in the same order. Its own read would cost one per joiner,
and could land before a frame of the shared operation read earlier.

Which part an execution delivers, whether it listens yet, whether its values
are current and the sequence of each value it yields are the runtime's own,
kept on the LiveExecution it runs the subscription with, as Strawberry's root
value (gql/live/execution.py); a
subscription only declares its replay and its live values
(gql/live/subscription.py), and one declared otherwise is refused when the
Multiplexer is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

import strawberry
from graphql import GraphQLFormattedError
from strawberry.types.execution import ExecutionResult, PreExecutionError

from gql.context import Context
from gql.live.execution import LiveExecution, Phase
from gql.live.shape import Shape
from gql.live.subscription import undeclared_subscriptions
from service.tokens import Principal

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    """One subscription on one socket, in the words of its protocol."""

    def next(self, payload: str) -> None:
        """Queue a result (a serialized `{"data": ...}`) without waiting."""

    async def next_waiting(self, payload: str) -> None:
        """Queue a result once the socket has room (for a replay)."""

    async def error(self, errors: list[GraphQLFormattedError]) -> None:
        """The operation failed before it started; it is over."""

    async def complete(self) -> None:
        """The operation is over."""

    def fell_behind(self) -> None:
        """Events came faster than they could be sent: disconnect, to resume with `after`."""


def encode_result(result: ExecutionResult) -> str:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return json.dumps(payload, separators=(",", ":"))


# -- what a shared operation hands its subscribers --------------------------


@dataclass(frozen=True)
class Frame:
    payload: str
    sequence: int | None  # the event it shows, for the hand-over after a replay


@dataclass(frozen=True)
class Failed:
    errors: list[GraphQLFormattedError]


@dataclass(frozen=True)
class Ended:
    pass


Delivered = Frame | Failed | Ended


def _failed(result: PreExecutionError) -> Failed:
    return Failed([error.formatted for error in result.errors or ()])


class _Member:
    def __init__(self, subscriber: Subscriber, *, holding: bool, hold_limit: int) -> None:
        self.subscriber = subscriber
        self.ending: Failed | Ended | None = None
        self.over = asyncio.Event()
        self._held: list[Delivered] | None = [] if holding else None
        self._replayed_through: int | None = None
        self._hold_limit = hold_limit

    def deliver(self, item: Delivered) -> None:
        if self._held is not None:
            if len(self._held) >= self._hold_limit:
                self._held = None
                self.subscriber.fell_behind()
                self._end(Ended())
                return
            self._held.append(item)
            return
        if isinstance(item, Frame):
            # The shared operation may still be executing events its feed
            # took before the replay read them: those were sent already.
            if (
                self._replayed_through is not None
                and item.sequence is not None
                and item.sequence <= self._replayed_through
            ):
                return
            self.subscriber.next(item.payload)
        else:
            self._end(item)

    def release(self, replayed_through: int | None) -> None:
        """Stop holding: from now on, send what comes after the replay."""
        held, self._held = self._held or [], None
        self._replayed_through = replayed_through
        for item in held:
            self.deliver(item)

    def end(self, ending: Failed | Ended) -> None:
        """End now, dropping whatever was held."""
        self._held = None
        self._end(ending)

    def _end(self, ending: Failed | Ended) -> None:
        if self.ending is None:
            self.ending = ending
            self.over.set()


@dataclass(frozen=True)
class LiveRequest:
    """A subscription as a socket asked for it."""

    query: str
    variables: Mapping[str, Any]
    operation_name: str | None
    context: Context  # the connection's, already authenticated


@dataclass(eq=False)
class _SharedOperation:
    key: tuple[object, ...]
    request: LiveRequest  # as its first subscriber asked, without `after`
    principal: Principal
    members: set[_Member] = field(default_factory=set)
    # The frame a subscriber joining now starts from: the last one sent, if
    # it shows a current value (None for changes, or before the first).
    latest: Frame | None = None
    task: asyncio.Task[None] | None = None
    ended: bool = False
    execution: LiveExecution = field(init=False)

    def __post_init__(self) -> None:
        # Executed in a context of its own: it serves every subscriber of its key.
        self.execution = LiveExecution(Phase.LIVE, fell_behind=self.fell_behind)
        context = Context.of_principal(self.request.context.services, self.principal)
        self.request = dataclasses.replace(self.request, context=context)

    def deliver(self, item: Delivered) -> None:
        for member in list(self.members):
            member.deliver(item)

    def fell_behind(self) -> None:
        for member in list(self.members):
            member.subscriber.fell_behind()


class Multiplexer:
    def __init__(self, schema: strawberry.Schema, hold_limit: int) -> None:
        undeclared = undeclared_subscriptions(schema)
        if undeclared:
            raise TypeError(
                f"subscriptions not declared with gql.live.subscription.live_subscription: "
                f"{', '.join(undeclared)}; their subscribers could not be handed over "
                "from a replay to the live events"
            )
        self._schema = schema
        self._hold_limit = hold_limit
        self._shared: dict[tuple[object, ...], _SharedOperation] = {}

    @property
    def subscriber_count(self) -> int:
        """Subscribers whose shared operation is receiving live events."""
        return sum(
            len(shared.members) for shared in self._shared.values() if shared.execution.listening
        )

    @property
    def shared_count(self) -> int:
        return len(self._shared)

    async def serve(self, request: LiveRequest, shape: Shape, subscriber: Subscriber) -> None:
        """Deliver a subscription until it ends or the task is cancelled."""
        principal = await request.context.principal()
        key = (
            principal.workspace_id,
            principal.role,
            request.query,
            request.operation_name,
            shape.key_variables(request.variables),
        )
        shared = self._shared.get(key) or self._open(key, request, shape, principal)
        replays = shape.replays(request.variables)
        member = _Member(subscriber, holding=replays, hold_limit=self._hold_limit)
        shared.members.add(member)
        if shared.latest is not None:
            member.deliver(shared.latest)  # before any frame to come: nothing runs in between
        try:
            if replays:
                await shared.execution.ready.wait()
                replayed_through: int | None = None
                if shared.execution.listening and member.ending is None:
                    replayed_through = await self._replay(request, member)
                if member.ending is None:
                    member.release(replayed_through)
            await member.over.wait()
        finally:
            self._leave(shared, member)
        if isinstance(member.ending, Failed):
            await subscriber.error(member.ending.errors)
        else:
            await subscriber.complete()

    def _open(
        self, key: tuple[object, ...], request: LiveRequest, shape: Shape, principal: Principal
    ) -> _SharedOperation:
        variables = dict(request.variables)
        if shape.after_variable is not None:
            variables.pop(shape.after_variable, None)
        shared = _SharedOperation(key, dataclasses.replace(request, variables=variables), principal)
        shared.task = asyncio.create_task(self._run(shared), name="shared-subscription")
        self._shared[key] = shared
        return shared

    async def _run(self, shared: _SharedOperation) -> None:
        try:
            results = await self._subscribe(shared.request, shared.execution)
            async with aclosing(results):
                first = True
                async for result in results:
                    if first and isinstance(result, PreExecutionError):
                        shared.deliver(_failed(result))
                        return
                    first = False
                    frame = Frame(encode_result(result), shared.execution.last_sequence)
                    if shared.execution.current:
                        shared.latest = frame
                    shared.deliver(frame)
            shared.deliver(Ended())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a shared subscription failed")
            shared.deliver(Ended())
        finally:
            shared.execution.over()
            self._forget(shared)

    async def _replay(self, request: LiveRequest, member: _Member) -> int | None:
        """Send the member its own replay; the sequence it replayed through."""
        execution = LiveExecution(Phase.REPLAY)
        own = dataclasses.replace(request, context=request.context.with_own_loaders())
        results = await self._subscribe(own, execution)
        async with aclosing(results):
            async for result in results:
                if isinstance(result, PreExecutionError):
                    member.end(_failed(result))
                    return None
                await member.subscriber.next_waiting(encode_result(result))
                if result.errors and result.data is None:
                    # The replay itself was refused (e.g. `after` older than the log):
                    # the error was the answer; going live would hide the gap.
                    member.end(Ended())
                    return None
        return execution.last_sequence

    async def _subscribe(
        self, request: LiveRequest, execution: LiveExecution
    ) -> AsyncGenerator[ExecutionResult, None]:
        # The execution is the root value: what the subscription's resolver
        # (gql/live/subscription.py) delivers through and records on.
        return await self._schema.subscribe(
            request.query,
            variable_values=dict(request.variables),
            context_value=request.context,
            root_value=execution,
            operation_name=request.operation_name,
        )

    def _leave(self, shared: _SharedOperation, member: _Member) -> None:
        shared.members.discard(member)
        if not shared.members and not shared.ended:
            self._forget(shared)
            if shared.task is not None:
                shared.task.cancel()

    def _forget(self, shared: _SharedOperation) -> None:
        """It serves nobody new: the next subscriber of its key opens another."""
        shared.ended = True
        if self._shared.get(shared.key) is shared:
            del self._shared[shared.key]

    async def close(self) -> None:
        tasks = [shared.task for shared in self._shared.values() if shared.task]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._shared.clear()
