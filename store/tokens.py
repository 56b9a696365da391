"""Workspaces and the hashed API tokens that open them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import TokenRow, WorkspaceRow


async def ensure_workspace(session: AsyncSession, workspace_id: str, now: datetime) -> None:
    if await session.get(WorkspaceRow, workspace_id) is None:
        session.add(WorkspaceRow(id=workspace_id, created_at=now))
        await session.flush()


async def token_by_hash(session: AsyncSession, token_hash: str) -> TokenRow | None:
    found = await session.exec(select(TokenRow).where(TokenRow.token_hash == token_hash))
    return found.first()


async def count_tokens(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(TokenRow))).one())


async def tokens_of(session: AsyncSession, workspace_id: str) -> Sequence[TokenRow]:
    """A workspace's tokens, oldest first."""
    found = await session.exec(
        select(TokenRow)
        .where(TokenRow.workspace_id == workspace_id)
        .order_by(col(TokenRow.created_at), col(TokenRow.name))
    )
    return found.all()


async def tokens_named(session: AsyncSession, workspace_id: str, name: str) -> Sequence[TokenRow]:
    """A workspace's tokens with this name (names are not unique), oldest first."""
    found = await session.exec(
        select(TokenRow)
        .where(TokenRow.workspace_id == workspace_id, TokenRow.name == name)
        .order_by(col(TokenRow.created_at))
    )
    return found.all()
