"""One transaction around one command: rolled back unless committed.

The work of a command is a plain function over a `UnitOfWork`, run in one
hop to a database thread (`in_unit_of_work`): the domain decides, the
repository persists, and `commit` numbers and logs the status events that
the journeys it saw recorded, last, just before COMMIT. What it logged, and
the journeys it wrote that logged nothing (`changed`), are for the
after-commit hand-off to announce.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from sqlalchemy import Connection

from domain.audience import begins_loading
from domain.channels import ends_failure_run
from domain.events import JourneyChanged, LoggedStatusChange, StatusChanged
from domain.statuses import exits_customers
from store import counters, event_log, loads
from store.database import Database
from store.journeys import JourneyRepository

T = TypeVar("T")


class UnitOfWork:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.journeys = JourneyRepository(connection)
        self.logged: list[LoggedStatusChange] = []
        # Journeys created, edited or deleted with no status change: the log
        # says nothing of them, so pages learn of them from this signal alone.
        self.changed: list[JourneyChanged] = []
        # Journeys whose audience began loading: the loaders are told after COMMIT.
        self.loads_begun: list[str] = []

    def __enter__(self) -> UnitOfWork:
        self._transaction = self.connection.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._transaction.is_active:
            self._transaction.rollback()

    def commit(self) -> None:
        self.journeys.flush()
        # The events are logged last, just before COMMIT: numbering them locks
        # the workspace's counter row until the transaction ends, so the less
        # work left after it, the less other writers wait.
        pending: dict[str, list[StatusChanged]] = defaultdict(list)
        self.changed = self.journeys.changes
        for journey in self.journeys.seen:
            for change in journey.events:
                if begins_loading(journey.kind, change.status):
                    loads.begin_load(self.connection, journey.id, change.at)
                    self.loads_begun.append(journey.id)
            pending[journey.workspace_id] += journey.events
            journey.events.clear()
        for change in (c for changes in pending.values() for c in changes):
            if exits_customers(change.status):
                # Everyone inside is out, and their queued messages cancelled, as
                # of this commit: the counters say so now; workers settle the rows.
                counters.count_everyone_out(self.connection, change.journey_id)
            if ends_failure_run(change.previous_status, change.status):
                counters.end_failure_run(self.connection, change.journey_id)
        for workspace_id, changes in pending.items():
            if changes:
                self.logged += event_log.append_all(self.connection, workspace_id, changes)
        self._transaction.commit()


async def in_unit_of_work(
    database: Database, work: Callable[[UnitOfWork], T]
) -> tuple[T, UnitOfWork]:
    """Run `work` in a new unit of work, in one hop to a database thread; `work`
    commits it, or it is rolled back. Returns what `work` returned, and the unit of
    work (what it logged, the journeys it saw) for the after-commit hand-off."""

    def run(connection: Connection) -> tuple[T, UnitOfWork]:
        with UnitOfWork(connection) as uow:
            return work(uow), uow

    return await database.write(run)
