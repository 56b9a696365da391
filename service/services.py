"""Everything a process needs, wired once: the entry points share one of these."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from service.bus import EventBus, InProcessBus
from service.channels import WebhookEndpoints
from service.clock import Clock, SystemClock
from service.commands import JourneyCommands
from service.customer_import import CustomerImports
from service.customers import CustomerProfiles
from service.email_channel import EmailChannel
from service.email_senders import EmailSenders
from service.entry import EntryCommands
from service.feed import EventFeed
from service.metrics import Metrics
from service.outcomes import ChannelPolicy
from service.previews import MessagePreviews
from service.processing import Processing
from service.rate_limits import MutationRateLimit
from service.reads import JourneyReads
from service.redis_bus import RedisBus
from service.scheduling import ArqScheduler, EmbeddedScheduler, Scheduler
from service.segments import AudienceLoading, AudienceUploads
from service.sending_rules import SendingRulesService
from service.settings import Mode, Settings
from service.tokens import Tokens
from service.webhook import WebhookSender
from store.database import Database


@dataclass
class Services:
    settings: Settings
    database: Database
    clock: Clock
    bus: EventBus
    scheduler: Scheduler
    commands: JourneyCommands = field(init=False)
    reads: JourneyReads = field(init=False)
    tokens: Tokens = field(init=False)
    feed: EventFeed = field(init=False)
    entry: EntryCommands = field(init=False)
    customers: CustomerProfiles = field(init=False)
    processing: Processing = field(init=False)
    webhook_endpoints: WebhookEndpoints = field(init=False)
    message_previews: MessagePreviews = field(init=False)
    sending_rules: SendingRulesService = field(init=False)
    email_senders: EmailSenders = field(init=False)
    uploads: AudienceUploads = field(init=False)
    customer_import: CustomerImports = field(init=False)
    loading: AudienceLoading = field(init=False)
    metrics: Metrics = field(init=False)
    rate_limit: MutationRateLimit = field(init=False)
    # Set when work is announced (customers entered, an audience began loading): the
    # step processor and the segment loader of this process look at once.
    work_ready: asyncio.Event = field(init=False)
    loads_ready: asyncio.Event = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics()
        self.rate_limit = MutationRateLimit(
            self.settings.mutation_rate_limit,
            self.settings.redis_url if self.settings.mode is Mode.DISTRIBUTED else None,
        )
        self.commands = JourneyCommands(
            self.database, self.clock, self.bus, self.scheduler, self.metrics
        )
        self.work_ready = asyncio.Event()
        self.bus.on_work(self.work_ready.set)
        self.loads_ready = asyncio.Event()
        self.bus.on_work(self.loads_ready.set)
        self.entry = EntryCommands(self.database, self.clock, self.bus)
        self.customers = CustomerProfiles(self.database, self.clock)
        self.webhook_endpoints = WebhookEndpoints(self.database, self.clock)
        self.message_previews = MessagePreviews(self.database)
        self.sending_rules = SendingRulesService(self.database, self.clock)
        self.email_senders = EmailSenders(self.database, self.clock)
        self.processing = Processing(
            self.database,
            self.clock,
            WebhookSender(
                self.clock,
                timeout_seconds=self.settings.webhook_timeout_seconds,
                concurrency=self.settings.webhook_concurrency,
            ),
            ChannelPolicy.of(self.settings),
            self.commands.fail_by_system,
            self.metrics,
            EmailChannel(
                self.clock,
                timeout_seconds=self.settings.smtp_timeout_seconds,
                ca_file=self.settings.smtp_ca_file,
            ),
        )
        self.reads = JourneyReads(self.database)
        self.tokens = Tokens(self.database, self.clock)
        self.feed = EventFeed(
            self.reads.status_events, self.reads.last_sequence, self.settings.feed_queue_events
        )
        self.uploads = AudienceUploads(self.database, self.clock, self.commands, self.reads)
        self.customer_import = CustomerImports(self.database, self.clock)
        self.loading = AudienceLoading(self.database, self.clock, self.bus, self.commands)
        self.bus.listen(self.feed)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Services:
        if settings.mode is Mode.DISTRIBUTED:
            return cls.distributed(settings, clock)
        return cls.embedded(settings, clock)

    @classmethod
    def distributed(cls, settings: Settings, clock: Clock | None = None) -> Services:
        assert settings.redis_url is not None
        clock = clock or SystemClock()
        return cls(
            settings=settings,
            database=Database(settings.database_url),
            clock=clock,
            bus=RedisBus(settings.redis_url),
            scheduler=ArqScheduler(settings.redis_url, settings.queue_name, clock),
        )

    @classmethod
    def embedded(cls, settings: Settings, clock: Clock | None = None) -> Services:
        return cls(
            settings=settings,
            database=Database(settings.database_url),
            clock=clock or SystemClock(),
            bus=InProcessBus(),
            scheduler=EmbeddedScheduler(),
        )

    def dependencies(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """What this process needs reachable to serve, each with its check (/readyz)."""
        checks: dict[str, Callable[[], Awaitable[None]]] = {"database": self.database.ping}
        if self.settings.mode is Mode.DISTRIBUTED:
            checks["redis"] = self.bus.ping
        return checks

    async def start(self) -> None:
        """Begin listening on the bus (called once the event loop runs)."""
        await self.bus.start()

    async def close(self) -> None:
        await self.processing.close()
        await self.feed.close()
        await self.bus.close()
        await self.scheduler.close()
        await self.database.dispose()
