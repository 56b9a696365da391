"""A per-token rate limit on mutations (the `limits` library).

Each token (its workspace and name) may make JOURNEYS_MUTATION_RATE_LIMIT
mutations, in limits' notation ("20/second;600/minute": every window must
have room), counted in a moving window. In distributed mode the counts live
in Redis, shared by every API process; in embedded mode in memory. Losing
them (a Redis flush, a restart) only forgives some calls: nothing else
depends on them. A refused mutation is told how many seconds to wait.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from service.tokens import Principal


class MutationRateLimit:
    def __init__(self, rate: str, redis_url: str | None = None) -> None:
        self._items: list[RateLimitItem] = parse_many(rate) if rate.strip() else []
        storage: Storage = (
            RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix="journeys")
            if redis_url
            else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(storage)

    @property
    def enabled(self) -> bool:
        return bool(self._items)

    async def retry_after(self, principal: Principal) -> int | None:
        """Count one mutation of this token: None when it may go ahead, else the
        seconds until a window has room again."""
        who = (principal.workspace_id, principal.token_name)
        for item in self._items:
            if not await self._limiter.test(item, *who):
                stats = await self._limiter.get_window_stats(item, *who)
                return max(1, math.ceil(stats.reset_time - time.time()))
        for item in self._items:
            await self._limiter.hit(item, *who)
        return None
