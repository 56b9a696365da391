"""Workspaces and the hashed API tokens that open them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from store.mapping import AnyRow
from store.tables import TOKENS, WORKSPACES


def workspace_exists(connection: Connection, workspace_id: str) -> bool:
    found = connection.execute(select(WORKSPACES.c.id).where(WORKSPACES.c.id == workspace_id))
    return found.first() is not None


def ensure_workspace(connection: Connection, workspace_id: str, now: datetime) -> None:
    if not workspace_exists(connection, workspace_id):
        connection.execute(insert(WORKSPACES).values(id=workspace_id, created_at=now))


def add_token(connection: Connection, **values: Any) -> None:
    connection.execute(insert(TOKENS).values(**values))


def token_by_hash(connection: Connection, token_hash: str) -> AnyRow | None:
    return connection.execute(select(TOKENS).where(TOKENS.c.token_hash == token_hash)).first()


def count_tokens(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(TOKENS)).scalar_one())


def tokens_of(connection: Connection, workspace_id: str) -> Sequence[AnyRow]:
    """A workspace's tokens, oldest first."""
    return connection.execute(
        select(TOKENS)
        .where(TOKENS.c.workspace_id == workspace_id)
        .order_by(TOKENS.c.created_at, TOKENS.c.name)
    ).all()


def tokens_named(connection: Connection, workspace_id: str, name: str) -> Sequence[AnyRow]:
    """A workspace's tokens with this name (names are not unique), oldest first."""
    return connection.execute(
        select(TOKENS)
        .where(TOKENS.c.workspace_id == workspace_id, TOKENS.c.name == name)
        .order_by(TOKENS.c.created_at)
    ).all()


def revoke(connection: Connection, token_ids: Sequence[str], now: datetime) -> None:
    connection.execute(update(TOKENS).where(TOKENS.c.id.in_(token_ids)).values(revoked_at=now))
