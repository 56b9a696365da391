"""The acknowledged WebSockets of this process, for checking their tokens again."""

from __future__ import annotations

from typing import Protocol

from gql.live.heap import LongLivedHeap
from service.tokens import Tokens

# Close code for a token that stopped being valid while the socket was open.
FORBIDDEN = 4403


class OpenSocket(Protocol):
    """An acknowledged socket, as its connections see it (gql/live/transport.py's)."""

    def authorization(self) -> str | None:
        """The token the socket was opened with."""

    async def close(self, code: int, reason: str) -> None:
        """Write what is queued for it, then close it."""


class Connections:
    def __init__(self, heap: LongLivedHeap) -> None:
        self._open: set[OpenSocket] = set()
        self._heap = heap

    def add(self, socket: OpenSocket) -> None:
        self._open.add(socket)
        self._heap.connection_opened()

    def discard(self, socket: OpenSocket) -> None:
        self._open.discard(socket)

    def __len__(self) -> int:
        return len(self._open)

    async def recheck_tokens(self, tokens: Tokens) -> int:
        """Close (4403) every socket whose token was revoked or expired; how many were."""
        by_token: dict[str | None, list[OpenSocket]] = {}
        for socket in self._open:
            by_token.setdefault(socket.authorization(), []).append(socket)
        closed = 0
        for authorization, sockets in by_token.items():
            if await tokens.still_valid(authorization):
                continue
            for socket in sockets:
                self._open.discard(socket)
                await socket.close(FORBIDDEN, "the token was revoked or has expired")
                closed += 1
        return closed
