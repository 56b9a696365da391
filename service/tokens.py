"""Workspaces and API tokens: a token is shown once, only its hash is kept."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.actions import Actor, Role
from domain.errors import Unauthenticated, ValidationFailed
from service.clock import Clock
from store import tokens as token_store
from store.database import Database
from store.tables import TokenRow

TOKEN_PREFIX = "jrn_"
PERSON_ROLES = (Role.VIEWER, Role.EDITOR, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's workspace, name and role."""

    workspace_id: str
    token_name: str
    role: Role

    @property
    def actor(self) -> Actor:
        return Actor.user(self.token_name, self.role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    # A token found valid is trusted this long without asking the database
    # again: a revocation takes at most this long to bite.
    CACHE_FOR = timedelta(seconds=5)
    CACHE_SIZE = 10_000

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._recent: dict[str, tuple[datetime, Principal]] = {}

    async def create(self, workspace_id: str, role: Role, name: str | None = None) -> str:
        """Make a token (and the workspace, if new) and return it: it is never shown again."""
        if role not in PERSON_ROLES:
            raise ValidationFailed("role must be viewer, editor or admin")
        workspace_id = workspace_id.strip()
        if not workspace_id or len(workspace_id) > 64:
            raise ValidationFailed("a workspace name has 1 to 64 characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = str(uuid.uuid4())
        now = self._clock.now()
        async with self._database.writing(), self._database.session() as session:
            await token_store.ensure_workspace(session, workspace_id, now)
            session.add(
                TokenRow(
                    id=token_id,
                    workspace_id=workspace_id,
                    name=(name or f"{role.value}-{token_id[:8]}")[:100],
                    role=role.value,
                    token_hash=hash_token(token),
                    created_at=now,
                )
            )
            await session.commit()
        return token

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an `Authorization: Bearer <token>` value."""
        if not authorization:
            raise Unauthenticated(
                "no token: send the header 'Authorization: Bearer <token>' "
                "(make one with `journeys token create`)"
            )
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization value must be 'Bearer <token>'")
        token_hash = hash_token(token.strip())
        now = self._clock.now()
        recent = self._recent.get(token_hash)
        if recent is not None and recent[0] > now:
            return recent[1]
        async with self._database.session() as session:
            row = await token_store.token_by_hash(session, token_hash)
        if row is None or row.revoked_at is not None:
            self._recent.pop(token_hash, None)
            raise Unauthenticated("this token is not valid (unknown or revoked)")
        principal = Principal(row.workspace_id, row.name, Role(row.role))
        if len(self._recent) >= self.CACHE_SIZE:
            self._recent.clear()
        self._recent[token_hash] = (now + self.CACHE_FOR, principal)
        return principal

    async def bootstrap(self) -> str | None:
        """On a database with no token at all: workspace `default` and an admin token."""
        async with self._database.session() as session:
            if await token_store.count_tokens(session) > 0:
                return None
        return await self.create("default", Role.ADMIN, name="bootstrap-admin")
