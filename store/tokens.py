"""Workspaces and the hashed API tokens that open them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import select
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
