"""Everything a process needs, wired once: the entry points share one of these."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.bus import EventBus, InProcessBus
from service.clock import Clock, SystemClock
from service.commands import JourneyCommands
from service.feed import EventFeed
from service.reads import JourneyReads
from service.scheduling import EmbeddedScheduler
from service.settings import Settings
from service.tokens import Tokens
from store.database import Database


@dataclass
class Services:
    settings: Settings
    database: Database
    clock: Clock
    bus: EventBus
    scheduler: EmbeddedScheduler
    commands: JourneyCommands = field(init=False)
    reads: JourneyReads = field(init=False)
    tokens: Tokens = field(init=False)
    feed: EventFeed = field(init=False)

    def __post_init__(self) -> None:
        self.commands = JourneyCommands(self.database, self.clock, self.bus, self.scheduler)
        self.reads = JourneyReads(self.database)
        self.tokens = Tokens(self.database, self.clock)
        self.feed = EventFeed(self.reads.events_after, self.reads.last_sequence)
        self.bus.listen(self.feed.ring)

    @classmethod
    def embedded(cls, settings: Settings, clock: Clock | None = None) -> Services:
        return cls(
            settings=settings,
            database=Database(settings.database_url),
            clock=clock or SystemClock(),
            bus=InProcessBus(),
            scheduler=EmbeddedScheduler(),
        )

    async def close(self) -> None:
        await self.feed.close()
        await self.database.dispose()
