"""The per-workspace feed when the log it reads has been pruned past it."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import ReplayUnavailable
from domain.events import LoggedStatusChange
from service.feed import EventFeed, SubscriberTooSlow


@pytest.mark.anyio
async def test_a_feed_left_behind_by_retention_sends_its_subscribers_to_resume():
    pruned_through = 40

    async def read_log(workspace_id: str, *, after: int, first: int) -> list[LoggedStatusChange]:
        if after < pruned_through:
            raise ReplayUnavailable("pruned", pruned_through)
        return []

    async def read_last_sequence(workspace_id: str) -> int:
        return 10  # the feed opens behind the cut, as one stuck for days would be

    feed = EventFeed(read_log, read_last_sequence, outbound_limit=10_000)
    try:
        async with feed.subscribe("acme") as subscription:
            feed.ring("acme")
            with pytest.raises(SubscriberTooSlow):
                async with asyncio.timeout(5):
                    async for _ in subscription:
                        pass
    finally:
        await feed.close()
