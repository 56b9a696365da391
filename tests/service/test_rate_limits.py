"""The mutation rate limit's counts: in memory for one process, in Redis (the real
one) shared by every process of a distributed deployment."""

from __future__ import annotations

import uuid

import pytest

from domain.actions import Role
from service.rate_limits import MutationRateLimit
from service.tokens import Principal

pytestmark = pytest.mark.anyio
REDIS_URL = "redis://127.0.0.1:6379/0"


def token() -> Principal:
    return Principal(workspace_id="acme", token_name=f"t-{uuid.uuid4().hex}", role=Role.EDITOR)


async def test_processes_share_their_counts_through_redis() -> None:
    first, second = (
        MutationRateLimit("2/minute", REDIS_URL),
        MutationRateLimit("2/minute", REDIS_URL),
    )
    caller = token()
    assert await first.retry_after(caller) is None
    assert await second.retry_after(caller) is None
    wait = await first.retry_after(caller)
    assert wait is not None and 1 <= wait <= 60
    assert await second.retry_after(token()) is None  # another token: its own count


async def test_every_window_must_have_room_and_empty_means_no_limit() -> None:
    limit = MutationRateLimit("1/second;5/minute")
    caller = token()
    assert await limit.retry_after(caller) is None
    assert await limit.retry_after(caller) == 1
    unlimited = MutationRateLimit("")
    assert not unlimited.enabled


def test_a_rate_that_cannot_be_read_is_refused_at_start() -> None:
    from service.settings import SettingsError
    from tests.environment import settings_in

    with pytest.raises(SettingsError, match="JOURNEYS_MUTATION_RATE_LIMIT must be rates"):
        settings_in({"JOURNEYS_MUTATION_RATE_LIMIT": "lots"})
    assert settings_in({"JOURNEYS_MUTATION_RATE_LIMIT": "off"}).mutation_rate_limit == ""
