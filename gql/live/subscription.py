"""Writing a subscription: declare its replay and its live values; the runtime does the rest.

    @live_subscription(description="...")
    async def status_changed(self, info: Info, after: int | None = None) -> Live[Event]:
        principal = await info.context.principal()  # refusals (NOT_FOUND...) go here

        async def replay(after: int) -> AsyncIterator[tuple[int, Event]]:
            for logged in await read_log(principal.workspace_id, after):
                yield logged.sequence, Event.of(logged)

        async def live(events: Events) -> AsyncIterator[tuple[int | None, Event]]:
            async for logged in status_events(events):  # this workspace's, from now on
                yield logged.sequence, Event.of(logged)

        return Live(live=live, current=False, replay=replay)

`live(events)` gets the workspace's live events, already subscribed to: its
status events (`LoggedStatusChange`, in sequence order) and the journeys
written without a status change (`JourneyChanged`: created, edited, deleted;
no sequence, no log); `status_events(events)` keeps the first kind. It
yields `(sequence, value)` pairs: the sequence of the logged event the
value shows, or None for a value that has none (counts re-read after
changes, a journey change). `replay(after)`, for a subscription that takes `after`, yields the
logged values after that sequence, in order; a subscription without `after`
declares no replay. Both run in the caller's context. A subscription whose
values are each the whole value as it is now (counts re-read after changes)
declares `current=True`, and has no replay.

What the runtime guarantees, so that no subscription spells it out: the live
events are subscribed to before a replay reads the log, so a subscriber with
`after` gets the log after it then the live values with no gap and no
duplicate; subscribers of one workspace, role, document and variables
(`after` aside) share one execution of `live`, and one that comes once it
has yielded a current value gets the latest of them at once, then the same
values as the others; a subscriber that falls behind is closed with 4410;
an error raised by the declaration (before it returns) or by `replay` is
the subscriber's answer, and it gets nothing after it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args, get_origin, get_type_hints

import strawberry
from strawberry.types import get_object_definition

from domain.events import LoggedStatusChange, WorkspaceEvent
from gql.context import Context
from gql.live.execution import LiveExecution, Phase

T = TypeVar("T")

Events = AsyncIterator[WorkspaceEvent]
"""The workspace's live events from the moment of subscribing: its status events, in
sequence order, and its journey changes, as they are announced."""


async def status_events(events: Events) -> AsyncIterator[LoggedStatusChange]:
    """The status events among `events`, for a subscription that follows only those."""
    async for event in events:
        if isinstance(event, LoggedStatusChange):
            yield event


@dataclass(frozen=True, kw_only=True)
class Live(Generic[T]):
    """What a subscription declares: its live values, whether they are current values
    or changes, and, if it takes `after`, its replay.

    `current`, which every subscription states: True when each value is the whole
    of what the subscription shows as it is now (the counts, a journey's stats),
    superseding the one before; a subscriber's first value is then the latest
    one, whenever it comes. False when each is one change among others (an
    event, a signal to re-read): a subscriber hears only those made after it
    came (or after its `after`). It has no default: a current value declared as
    changes would leave a subscriber who joins a shared execution with nothing
    until the next change.
    """

    live: Callable[[Events], AsyncIterator[tuple[int | None, T]]]
    current: bool
    replay: Callable[[int], AsyncIterator[tuple[int, T]]] | None = None

    def __post_init__(self) -> None:
        if self.current and self.replay is not None:
            # The latest value is all a subscriber needs: a replay before it
            # could only end on an older one.
            raise TypeError("a current value is not replayed: declare `replay` or `current`")


Declaration = Callable[..., Awaitable[Live[Any]]]

# The resolvers live_subscription made: the Multiplexer serves no other.
_DECLARED: set[Callable[..., Any]] = set()


def live_subscription(**options: Any) -> Callable[[Declaration], Any]:
    """Turn a declaration (an `async def` returning `Live[T]`) into a Strawberry
    subscription field; `options` are `strawberry.subscription`'s (description...).

    The field takes the declaration's arguments (Strawberry reads them through
    `functools.wraps`); its type is `T`, given as the field's `graphql_type`. `T`
    is read with `typing.get_type_hints` when the declaration is decorated, so it
    is defined (or imported) before it. The root argument named `after`, if any,
    is the sequence a replay starts after.
    """

    def decorate(declare: Declaration) -> Any:
        signature = inspect.signature(declare)
        if "info" not in signature.parameters:
            raise TypeError(f"{declare.__qualname__}: a live subscription takes `info`")
        takes_after = "after" in signature.parameters
        values = _values_type(declare)

        @functools.wraps(declare)
        async def resolver(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            info: strawberry.Info[Context, object] = bound.arguments["info"]
            after = bound.arguments["after"] if takes_after else None
            declared = await declare(*args, **kwargs)
            execution = _execution_of(info.root_value)
            workspace_id = (await info.context.principal()).workspace_id
            feed = info.context.services.feed

            async for value in execution.deliver(
                declared, after, lambda: feed.subscribe(workspace_id)
            ):
                yield value

        _DECLARED.add(resolver)
        return strawberry.subscription(resolver, graphql_type=values, **options)

    return decorate


def _values_type(declare: Declaration) -> object:
    """`T` of the declaration's `-> Live[T]`."""
    returned = get_type_hints(declare).get("return")
    if get_origin(returned) is not Live:
        raise TypeError(
            f"{declare.__qualname__}: a live subscription is annotated `-> Live[T]`, "
            f"not {returned!r}"
        )
    (values,) = get_args(returned)
    return values


def _execution_of(root_value: object) -> LiveExecution:
    """The execution the runtime gave as root value (gql/live/multiplex.py); an execution
    it does not run (Strawberry's own path, a test calling `schema.subscribe`) does the
    whole of it, hand-over included, on its own."""
    if isinstance(root_value, LiveExecution):
        return root_value
    return LiveExecution(Phase.BOTH)


def undeclared_subscriptions(schema: strawberry.Schema) -> list[str]:
    """The subscription fields not made by `live_subscription`: the runtime cannot
    hand a subscriber over from a replay to them, so it refuses to serve them."""
    if schema.subscription is None:
        return []
    definition = get_object_definition(schema.subscription, strict=True)
    return [
        field.python_name
        for field in definition.fields
        if field.base_resolver is None or field.base_resolver.wrapped_func not in _DECLARED
    ]
