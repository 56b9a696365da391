"""Per-request context: the services, the caller, and the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from domain.events import LoggedStatusChange
from domain.journey import Journey, Version
from service.services import Services
from service.tokens import Principal


@dataclass
class Context:
    services: Services
    request: Request | WebSocket
    response: Response | None = None
    # Filled by Strawberry from a WebSocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    _principal: Principal | None = None
    _loaders: dict[object, DataLoader[Any, Any]] = field(default_factory=dict)

    async def principal(self) -> Principal:
        """The caller, authenticated once per request (or per WebSocket)."""
        if self._principal is None:
            self._principal = await self.services.tokens.authenticate(self._authorization())
        return self._principal

    def _authorization(self) -> str | None:
        if isinstance(self.request, WebSocket):
            params = self.connection_params or {}
            value = params.get("authorization") or params.get("Authorization")
            return value if isinstance(value, str) else None
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

    def journey_loader(self) -> DataLoader[str, Journey | None]:
        async def load(ids: Sequence[str]) -> list[Journey | None]:
            principal = await self.principal()
            found = await self.services.reads.journeys_by_id(principal.workspace_id, ids)
            return [found.get(journey_id) for journey_id in ids]

        return self._loader("journeys", load)

    def _loader(self, key: object, load: Any) -> DataLoader[Any, Any]:
        if key not in self._loaders:
            # A WebSocket context lives for hours: never serve it cached rows.
            cache = not isinstance(self.request, WebSocket)
            self._loaders[key] = DataLoader(load_fn=load, cache=cache)
        return self._loaders[key]


Info = StrawberryInfo[Context, None]
