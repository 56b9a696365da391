"""The append-only status event log and its workspace-wide sequence."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.events import LoggedStatusChange, StatusChanged
from store.mapping import event_row
from store.tables import WorkspaceRow


class EventLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(self, workspace_id: str, change: StatusChanged) -> LoggedStatusChange:
        # Bumping the counter row locks it until this transaction ends, so a
        # second writer in the same workspace waits for our commit before it
        # draws its number: sequences are handed out in commit order.
        result = await self._session.exec(
            update(WorkspaceRow)
            .where(col(WorkspaceRow.id) == workspace_id)
            .values(last_sequence=col(WorkspaceRow.last_sequence) + 1)
            .returning(col(WorkspaceRow.last_sequence))
        )
        sequence = int(result.scalar_one())
        self._session.add(event_row(workspace_id, sequence, change))
        await self._session.flush()
        return LoggedStatusChange(sequence, workspace_id, change)
