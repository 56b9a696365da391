"""The `webhook` channel's entry in the channel table (service/channel_table.py): where
a workspace's messages go (its endpoint), how long a batch of attempts may take, and the
sender that POSTs them (service/webhook.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from domain.channels import WEBHOOK, shown_url
from service.attempts import Attempt, Outcome
from service.webhook import WebhookSender
from store import channels as channel_store


class WebhookChannel:
    def __init__(self, sender: WebhookSender) -> None:
        self._sender = sender

    def destinations(
        self, connection: Connection, workspace_ids: Sequence[str]
    ) -> Mapping[str, Any]:
        """{workspace id: its endpoint (`url`, `secret`)}, for those that have one."""
        return channel_store.endpoints(connection, workspace_ids)

    def time_to_send(self, attempts: int) -> timedelta:
        """The attempts go `concurrency` at a time, each within the timeout; one round
        more is spare."""
        rounds = -(-attempts // self._sender.concurrency) + 1
        return timedelta(seconds=rounds * self._sender.timeout_seconds)

    def describe(self, destination: Any) -> str:
        return f"{WEBHOOK} {shown_url(destination.url)}" if destination is not None else WEBHOOK

    async def send_all(self, attempts: Sequence[Attempt]) -> list[Outcome]:
        return await self._sender.send_all(attempts)

    async def close(self) -> None:
        await self._sender.close()
