"""One transaction around one command: rolled back unless committed."""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.events import LoggedStatusChange
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
        await self._log_events(journey)

    async def save(self, journey: Journey) -> None:
        """Write the journey, its new versions and the status events it recorded."""
        await self.journeys.save(journey)
        await self._log_events(journey)

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    async def _log_events(self, journey: Journey) -> None:
        for change in journey.events:
            self.logged.append(await self._events.append(journey.workspace_id, change))
        journey.events.clear()
