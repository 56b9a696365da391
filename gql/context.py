"""Per-request context: the services, the caller, and the request's DataLoaders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from domain.events import LoggedStatusChange
from domain.journey import Journey, Version
from service.reads import JourneyCounters
from service.services import Services
from service.tokens import Principal


class Delivery(Enum):
    """Which part of a subscription's events an execution delivers (gql/multiplex.py
    runs both, and hands a subscriber over from the first to the second)."""

    LIVE_ONLY = auto()  # a shared execution: the live events of many subscribers
    REPLAY_ONLY = auto()  # one subscriber's own replay, before it joins the live ones


def _ignore() -> None:
    return None


@dataclass
class EventStream:
    """What a subscription resolver and the code that runs it tell each other.

    The resolver reads `delivery`, calls `now_listening()` once it receives
    live events, and records in `last_sequence` the sequence of each event
    just before yielding it (the shared fan-out labels each frame with it).
    The runner sets `fell_behind`, called when live events came too fast.
    """

    delivery: Delivery = Delivery.LIVE_ONLY
    last_sequence: int | None = None
    listening: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    fell_behind: Callable[[], None] = _ignore

    def now_listening(self) -> None:
        self.listening = True
        self.ready.set()


@dataclass
class Context:
    services: Services
    # None for a shared subscription execution, which serves many sockets.
    request: Request | WebSocket | None
    response: Response | None = None
    # Filled by Strawberry from a WebSocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    stream: EventStream = field(default_factory=EventStream)
    _principal: Principal | None = None
    _loaders: dict[object, DataLoader[Any, Any]] = field(default_factory=dict)

    async def principal(self) -> Principal:
        """The caller, authenticated once per request (or per WebSocket)."""
        if self._principal is None:
            self._principal = await self.services.tokens.authenticate(self.authorization())
        return self._principal

    @property
    def caller(self) -> Principal:
        """The caller, for fields below a root field (which authenticated already):
        read without awaiting, so a page of journeys costs no coroutine per field."""
        if self._principal is None:
            raise RuntimeError("a root field must authenticate (await principal()) first")
        return self._principal

    def authorization(self) -> str | None:
        if isinstance(self.request, WebSocket):
            params = self.connection_params or {}
            value = params.get("authorization") or params.get("Authorization")
            return value if isinstance(value, str) else None
        if self.request is None:
            return None
        return self.request.headers.get("authorization")

    # -- DataLoaders: one query per batch, not per journey ------------------

    def versions_loader(self) -> DataLoader[str, list[Version]]:
        async def load(ids: Sequence[str]) -> list[list[Version]]:
            found = await self.services.reads.versions(ids)
            return [found.get(journey_id, []) for journey_id in ids]

        return self._loader("versions", load)

    def history_loader(self, first: int) -> DataLoader[str, list[LoggedStatusChange]]:
        async def load(ids: Sequence[str]) -> list[list[LoggedStatusChange]]:
            principal = await self.principal()
            found = await self.services.reads.histories(principal.workspace_id, ids, first)
            return [found.get(journey_id, []) for journey_id in ids]

        return self._loader(("history", first), load)

    def counters_loader(self) -> DataLoader[str, JourneyCounters]:
        async def load(ids: Sequence[str]) -> list[JourneyCounters]:
            found = await self.services.reads.counters(ids)
            return [found.get(journey_id, JourneyCounters()) for journey_id in ids]

        return self._loader("counters", load)

    def step_counts_loader(self) -> DataLoader[str, dict[int, int]]:
        async def load(ids: Sequence[str]) -> list[dict[int, int]]:
            found = await self.services.reads.customers_at_steps(ids)
            return [found.get(journey_id, {}) for journey_id in ids]

        return self._loader("step counts", load)

    def journey_loader(self) -> DataLoader[str, Journey | None]:
        async def load(ids: Sequence[str]) -> list[Journey | None]:
            principal = await self.principal()
            found = await self.services.reads.journeys_by_id(principal.workspace_id, ids)
            return [found.get(journey_id) for journey_id in ids]

        return self._loader("journeys", load)

    def _loader(self, key: object, load: Any) -> DataLoader[Any, Any]:
        if key not in self._loaders:
            # Only an HTTP request is short: a WebSocket's context, or a shared
            # subscription's, lives for hours and must never serve cached rows.
            cache = isinstance(self.request, Request)
            self._loaders[key] = DataLoader(load_fn=load, cache=cache)
        return self._loaders[key]


Info = StrawberryInfo[Context, None]
