"""One transaction around one command: rolled back unless committed."""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.events import LoggedStatusChange, StatusChanged
from domain.journey import Journey
from store.database import Database
from store.event_log import EventLog
from store.journeys import JourneyRepository


class UnitOfWork:
    session: AsyncSession
    journeys: JourneyRepository

    def __init__(self, database: Database) -> None:
        self._database = database
        self._stack = AsyncExitStack()
        self.logged: list[LoggedStatusChange] = []
        self._pending: dict[str, list[StatusChanged]] = {}
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        await self._stack.enter_async_context(self._database.writing())
        self.session = await self._stack.enter_async_context(self._database.session())
        self.journeys = JourneyRepository(self.session)
        self._events = EventLog(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self._stack.aclose()

    async def add(self, journey: Journey) -> None:
        await self.journeys.add(journey)
        self._collect_events(journey)

    async def save(self, journey: Journey) -> None:
        """Write the journey and its new versions; its status events go in at commit."""
        await self.journeys.save(journey)
        self._collect_events(journey)

    async def commit(self) -> None:
        # The events are logged last, just before COMMIT: numbering them locks
        # the workspace's counter row until the transaction ends, so the less
        # work left after it, the less other writers wait.
        for workspace_id, changes in self._pending.items():
            self.logged += await self._events.append_all(workspace_id, changes)
        self._pending.clear()
        await self.session.commit()
        self._committed = True

    def _collect_events(self, journey: Journey) -> None:
        if journey.events:
            self._pending.setdefault(journey.workspace_id, []).extend(journey.events)
            journey.events.clear()
