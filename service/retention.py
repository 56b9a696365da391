"""Status-log retention: delete events older than a cutoff, and remember how far.

`journeys prune-log --older-than DAYS` runs it. It is safe while the service
runs: it deletes only a prefix of each workspace's log (events numbered up to
the first one that is recent enough to keep), a batch per short transaction,
and it never writes the sequence counter. Each workspace's `pruned_through`
says how far the log was cut, so a read after an older sequence is refused
with REPLAY_UNAVAILABLE (service/reads.py) instead of answering with a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from domain.errors import ValidationFailed
from service.clock import Clock
from store import queries
from store import retention as retention_store
from store.database import Database


@dataclass(frozen=True)
class PrunedWorkspace:
    workspace_id: str
    deleted: int  # events deleted by this run
    pruned_through: int  # the highest sequence deleted so far, this run or before (0: none)


@dataclass(frozen=True)
class PruneReport:
    cutoff: datetime  # events older than this were deleted
    workspaces: list[PrunedWorkspace]

    @property
    def deleted(self) -> int:
        return sum(workspace.deleted for workspace in self.workspaces)


class LogRetention:
    # Events deleted per transaction: small enough that a batch holds the
    # workspace row (and, on SQLite, the single writer) only for moments.
    BATCH_SIZE = 1000

    def __init__(self, database: Database, clock: Clock, *, batch_size: int = BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._database = database
        self._clock = clock
        self._batch_size = batch_size

    async def prune(self, older_than: timedelta) -> PruneReport:
        """Delete, in every workspace, the status events older than `now - older_than`.

        Stops, per workspace, at the first event recent enough to keep, so
        the log stays one unbroken run of sequence numbers. Returns what
        it did per workspace (every workspace, including those with nothing
        to delete).
        """
        if older_than <= timedelta(0):
            raise ValidationFailed("the retention period must be positive")
        cutoff = self._clock.now() - older_than
        workspace_ids = await self._database.read(retention_store.workspace_ids)
        pruned = [await self._prune_workspace(workspace, cutoff) for workspace in workspace_ids]
        return PruneReport(cutoff, pruned)

    async def _prune_workspace(self, workspace_id: str, cutoff: datetime) -> PrunedWorkspace:
        def bounds(connection: Connection) -> tuple[int, int]:
            return (
                retention_store.prunable_through(connection, workspace_id, cutoff),
                queries.pruned_through(connection, workspace_id),
            )

        def delete_batch(connection: Connection) -> tuple[int, int] | None:
            return retention_store.delete_batch(connection, workspace_id, through, self._batch_size)

        through, pruned_through = await self._database.read(bounds)
        deleted = 0
        # One short transaction per batch: on SQLite, commands get the writer
        # between batches.
        while (done := await self._database.transaction(delete_batch)) is not None:
            count, highest = done
            deleted += count
            pruned_through = max(pruned_through, highest)
        return PrunedWorkspace(workspace_id, deleted, pruned_through)
