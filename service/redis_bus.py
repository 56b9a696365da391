"""The bus in distributed mode: Redis pub/sub, one subscription per process.

Redis only makes things prompt. An announcement lost while Redis is down
costs nothing but time: after reconnecting, and every `backstop_seconds`
with no announcement at all, the listener asks the feed to look at every
workspace, and the feed reads the log in the database. A journey change
(`JourneyChanged`) is a signal with no log behind it: one lost while Redis
is down is not replayed, and pages show that journey's newer row when they
next re-read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from domain.events import Change, JourneyChanged
from service.bus import Listener

log = logging.getLogger(__name__)

CHANNEL = "journeys:status-events"
WORK_CHANNEL = "journeys:work"
CHANGES_CHANNEL = "journeys:journey-changes"


class RedisBus:
    def __init__(self, redis_url: str, *, backstop_seconds: float = 5.0) -> None:
        self._redis_url = redis_url
        self._publisher: Redis = Redis.from_url(redis_url)
        self._listeners: list[Listener] = []
        self._work_listeners: list[Callable[[], None]] = []
        self._backstop_seconds = backstop_seconds
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.reconnects = 0

    async def announce(self, workspace_ids: Iterable[str]) -> None:
        try:
            for workspace_id in set(workspace_ids):
                await self._publisher.publish(CHANNEL, workspace_id)
        except (RedisError, OSError) as error:
            # The events are committed; other processes find them from the log.
            log.warning("could not announce on Redis (%s); feeds will catch up", error)

    async def announce_changes(self, changes: Sequence[JourneyChanged]) -> None:
        if not changes:
            return
        try:
            await self._publisher.publish(CHANGES_CHANNEL, _encode(changes))
        except (RedisError, OSError) as error:
            # Committed all the same: pages show the rows when they next re-read them.
            log.warning("could not announce journey changes on Redis (%s)", error)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def announce_work(self) -> None:
        try:
            await self._publisher.publish(WORK_CHANNEL, b"")
        except (RedisError, OSError) as error:
            # The admissions are committed; the processors poll for them anyway.
            log.warning("could not announce work on Redis (%s); processors will poll", error)

    def on_work(self, wake: Callable[[], None]) -> None:
        self._work_listeners.append(wake)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="redis-bus")

    async def ping(self) -> None:
        await self._publisher.ping()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._publisher.aclose()

    async def _listen_forever(self) -> None:
        delay = 0.1
        while True:
            client: Redis = Redis.from_url(self._redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL, WORK_CHANNEL, CHANGES_CHANNEL)
                    if self.reconnects:
                        log.info("connected to Redis again; catching up from the log")
                    self.connected = True
                    delay = 0.1
                    self._ring_all()  # whatever was announced while we were away
                    await self._relay(pubsub)
            except (RedisError, OSError) as error:
                if self.connected:
                    log.warning("lost Redis (%s); retrying", error)
                self.connected = False
                self.reconnects += 1
                self._ring_all()  # keep delivering what this process can see meanwhile
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()

    async def _relay(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=self._backstop_seconds
            )
            if message is None:
                self._ring_all()
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            if channel == WORK_CHANNEL:
                for wake in self._work_listeners:
                    wake()
                continue
            if channel == CHANGES_CHANNEL:
                for change in _decode(message["data"]):
                    for listener in self._listeners:
                        listener.changed(change)
                continue
            workspace_id = message["data"]
            if isinstance(workspace_id, bytes):
                workspace_id = workspace_id.decode()
            for listener in self._listeners:
                listener.ring(workspace_id)

    def _ring_all(self) -> None:
        for listener in self._listeners:
            listener.ring_all()


def _encode(changes: Sequence[JourneyChanged]) -> str:
    return json.dumps(
        [[c.workspace_id, c.journey_id, c.revision, c.what.value] for c in changes],
        separators=(",", ":"),
    )


def _decode(data: bytes | str) -> list[JourneyChanged]:
    """The changes a message names; none from one that is not ours (another
    version's format, or a stranger on the channel), which is dropped, not fatal."""
    try:
        return [
            JourneyChanged(str(workspace), str(journey), int(revision), Change(what))
            for workspace, journey, revision, what in json.loads(data)
        ]
    except (ValueError, TypeError) as error:
        log.warning("ignored a journey-change message that is not ours (%s)", error)
        return []
