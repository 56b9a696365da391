"""Per-request context: the services, the caller, and the request's DataLoaders."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from domain.counters import JourneyCounters
from domain.events import LoggedStatusChange
from domain.journey import Journey, Version
from service.reads import NodeCount
from service.services import Services
from service.tokens import Principal


@dataclass
class Context:
    services: Services
    # None for a shared subscription execution, which serves many sockets.
    request: Request | WebSocket | None
    response: Response | None = None
    # Filled by Strawberry from a WebSocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    _principal: Principal | None = None
    _loaders: dict[object, DataLoader[Any, Any]] = field(default_factory=dict)

    @classmethod
    def of_principal(cls, services: Services, principal: Principal) -> Context:
        """A context with no request, its caller already known: for an execution that
        serves every subscriber of one workspace and role (gql/live/multiplex.py)."""
        return cls(services=services, request=None, _principal=principal)

    def with_own_loaders(self) -> Context:
        """This caller's context for one more execution on its behalf (a replay the
        live runtime runs for it): the same caller, DataLoaders of its own."""
        return dataclasses.replace(self, _loaders={})

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

    def node_counts_loader(self) -> DataLoader[str, dict[str, NodeCount]]:
        async def load(ids: Sequence[str]) -> list[dict[str, NodeCount]]:
            found = await self.services.reads.node_counts(ids)
            return [found.get(journey_id, {}) for journey_id in ids]

        return self._loader("node counts", load)

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
