"""The append-only status event log and its workspace-wide sequence."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.events import LoggedStatusChange, StatusChanged
from store.mapping import event_row
from store.tables import WorkspaceRow


class EventLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append_all(
        self, workspace_id: str, changes: Sequence[StatusChanged]
    ) -> list[LoggedStatusChange]:
        """Number `changes` in order and append them to the log."""
        # Bumping the counter row locks it until this transaction ends, so a
        # second writer in the same workspace waits for our commit before it
        # draws its numbers: sequences are handed out in commit order.
        result = await self._session.exec(
            update(WorkspaceRow)
            .where(col(WorkspaceRow.id) == workspace_id)
            .values(last_sequence=col(WorkspaceRow.last_sequence) + len(changes))
            .returning(col(WorkspaceRow.last_sequence))
        )
        first = int(result.scalar_one()) - len(changes) + 1
        logged = [
            LoggedStatusChange(first + offset, workspace_id, change)
            for offset, change in enumerate(changes)
        ]
        self._session.add_all([event_row(workspace_id, e.sequence, e.change) for e in logged])
        await self._session.flush()
        return logged
