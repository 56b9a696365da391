"""Workspaces and API tokens: a token is shown once, only its hash is kept.

A token opens its workspace until it expires (`expires_at`, optional) or is
revoked (`revoked_at`). Every time comparison uses the injected clock.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from domain.actions import Actor, Role
from domain.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from service.clock import Clock
from store import tokens as token_store
from store.database import Database
from store.mapping import AnyRow

TOKEN_PREFIX = "jrn_"
PERSON_ROLES = (Role.VIEWER, Role.EDITOR, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's workspace, name and role."""

    workspace_id: str
    token_name: str
    role: Role
    # When the token stops opening the workspace (None: never). A connection
    # that outlives its request may plan its next check for this instant.
    expires_at: datetime | None = None

    @property
    def actor(self) -> Actor:
        return Actor.user(self.token_name, self.role)

    def require_admin(self, what: str) -> None:
        """Forbidden unless an admin's token: `what` ("setting the email sender") says
        what needs it."""
        if self.role is not Role.ADMIN:
            raise Forbidden(f"{what} needs an admin token; yours is a {self.role.value} token")


class TokenState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class TokenInfo:
    """What an operator may see of a token: never the token, nor its hash."""

    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> TokenState:
        if self.revoked_at is not None:
            return TokenState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return TokenState.EXPIRED
        return TokenState.ACTIVE

    @classmethod
    def of(cls, row: AnyRow) -> TokenInfo:
        return cls(row.name, Role(row.role), row.created_at, row.expires_at, row.revoked_at)


@dataclass(frozen=True)
class Revocation:
    """What `Tokens.revoke` did: the tokens it revoked now, and those revoked before."""

    revoked: list[TokenInfo]
    already_revoked: list[TokenInfo]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def show_time(when: datetime) -> str:
    """A stored instant as operators and clients read it: ISO 8601 in UTC."""
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Tokens:
    # A token found valid is trusted this long without asking the database
    # again: a revocation takes at most this long to bite. An expiry bites on
    # time: nothing is trusted past the token's `expires_at`.
    CACHE_FOR = timedelta(seconds=5)
    CACHE_SIZE = 10_000

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        # token hash -> (trusted until, principal)
        self._recent: dict[str, tuple[datetime, Principal]] = {}

    async def create(
        self,
        workspace_id: str,
        role: Role,
        name: str | None = None,
        *,
        expires_in: timedelta | None = None,
    ) -> str:
        """Make a token (and the workspace, if new) and return it: it is never shown again.

        With `expires_in`, the token is refused from `now + expires_in` on.
        """
        if role not in PERSON_ROLES:
            raise ValidationFailed("role must be viewer, editor or admin")
        workspace_id = workspace_id.strip()
        if not workspace_id or len(workspace_id) > 64:
            raise ValidationFailed("a workspace name has 1 to 64 characters")
        now = self._clock.now()
        expires_at = None
        if expires_in is not None:
            if expires_in <= timedelta(0):
                raise ValidationFailed("a token's lifetime must be positive")
            try:
                expires_at = now + expires_in
            except OverflowError:
                raise ValidationFailed("a token's lifetime is too long") from None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = str(uuid.uuid4())

        def add(connection: Connection) -> None:
            token_store.ensure_workspace(connection, workspace_id, now)
            token_store.add_token(
                connection,
                id=token_id,
                workspace_id=workspace_id,
                name=(name or f"{role.value}-{token_id[:8]}")[:100],
                role=role.value,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=expires_at,
            )

        await self._database.transaction(add)
        return token

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an `Authorization: Bearer <token>` value.

        Raises Unauthenticated for a missing, malformed, unknown, expired or
        revoked token. A token found valid is trusted for CACHE_FOR, but never
        past its expiry; so a revocation bites within CACHE_FOR, an expiry at once.
        """
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
        self._recent.pop(token_hash, None)
        row = await self._database.read(
            lambda connection: token_store.token_by_hash(connection, token_hash)
        )
        if row is None:
            raise Unauthenticated("this token is not valid (unknown)")
        if row.revoked_at is not None:
            raise Unauthenticated(f"this token was revoked at {show_time(row.revoked_at)}")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated(
                f"this token expired at {show_time(row.expires_at)}; "
                "ask an admin for a new one (`journeys token create`)"
            )
        principal = Principal(row.workspace_id, row.name, Role(row.role), row.expires_at)
        trusted_until = now + self.CACHE_FOR
        if row.expires_at is not None:
            trusted_until = min(trusted_until, row.expires_at)
        if len(self._recent) >= self.CACHE_SIZE:
            self._recent.clear()
        self._recent[token_hash] = (trusted_until, principal)
        return principal

    async def still_valid(self, authorization: str | None) -> bool:
        """Whether the token behind `authorization` still opens its workspace, now.

        For connections that outlive a request (WebSockets): call it
        periodically with the value the connection authenticated with; False
        means close it. It is `authenticate` (same cache, same injected clock)
        with its refusal turned into False: an expired token is False from its
        `expires_at` on, a revoked one within CACHE_FOR of the revocation.
        Errors other than a refusal (the database unreachable) propagate: they
        say nothing about the token.
        """
        try:
            await self.authenticate(authorization)
        except Unauthenticated:
            return False
        return True

    async def revoke(self, workspace_id: str, name: str) -> Revocation:
        """Revoke every token of `workspace_id` named `name` (names need not be unique).

        Revoking again is harmless: tokens revoked before are reported, not
        touched. Raises NotFound when the workspace has no token of that name.
        Another process notices within CACHE_FOR.
        """
        now = self._clock.now()

        def revoke(connection: Connection) -> tuple[list[AnyRow], list[AnyRow]]:
            rows = token_store.tokens_named(connection, workspace_id, name)
            if not rows:
                raise NotFound(f"workspace {workspace_id!r} has no token named {name!r}")
            fresh = [row for row in rows if row.revoked_at is None]
            if fresh:
                token_store.revoke(connection, [row.id for row in fresh], now)
            return fresh, [row for row in rows if row.revoked_at is not None]

        fresh, already = await self._database.transaction(revoke)
        for row in fresh:
            self._recent.pop(row.token_hash, None)
        return Revocation(
            [replace(TokenInfo.of(row), revoked_at=now) for row in fresh],
            [TokenInfo.of(row) for row in already],
        )

    async def list_tokens(self, workspace_id: str) -> list[TokenInfo]:
        """A workspace's tokens, oldest first. Raises NotFound for an unknown workspace."""

        def tokens(connection: Connection) -> list[TokenInfo]:
            if not token_store.workspace_exists(connection, workspace_id):
                raise NotFound(f"no workspace named {workspace_id!r}")
            return [TokenInfo.of(row) for row in token_store.tokens_of(connection, workspace_id)]

        return await self._database.read(tokens)

    async def bootstrap(self) -> str | None:
        """On a database with no token at all: workspace `default` and an admin token."""
        if await self._database.read(token_store.count_tokens) > 0:
            return None
        return await self.create("default", Role.ADMIN, name="bootstrap-admin")
