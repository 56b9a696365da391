"""One transaction around one command: rolled back unless committed.

The work of a command is a plain function over a `UnitOfWork`, run in one
hop to a database thread (`in_unit_of_work`): the domain decides, the
repository persists, and `commit` runs the reactions to the status events
that the journeys it saw recorded, then numbers and logs those events, last,
just before COMMIT. What it logged, the journeys it wrote that logged nothing
(`changed`) and what the reactions left for later (`after_commit`) are for
the after-commit hand-off.

Which reactions there are is the service's to say (service/reactions.py): the
unit of work is given them, and only runs them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import TypeVar

from sqlalchemy import Connection

from domain.events import JourneyChanged, LoggedStatusChange, StatusChanged
from domain.journey import Journey
from store import event_log
from store.database import Database
from store.journeys import JourneyRepository

T = TypeVar("T")


@dataclass(frozen=True)
class Reaction:
    """A write that a status change calls for, made in the transaction that records it."""

    # The domain's rule for which changes call for it; the journey that recorded
    # the change is there for what the event does not say (its kind).
    selects: Callable[[Journey, StatusChanged], bool]
    handle: Callable[[UnitOfWork, StatusChanged], None]


class UnitOfWork:
    def __init__(self, connection: Connection, reactions: Sequence[Reaction]) -> None:
        self.connection = connection
        self.journeys = JourneyRepository(connection)
        self.reactions = reactions
        self.logged: list[LoggedStatusChange] = []
        # Journeys created, edited or deleted with no status change: the log
        # says nothing of them, so pages learn of them from this signal alone.
        self.changed: list[JourneyChanged] = []
        # What the reactions asked to be done once committed; what each note
        # means is the business of the service that gave the reactions.
        self.after_commit: set[Enum] = set()

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
        self.changed = self.journeys.changes
        # The events of each workspace, in the order they will be logged, each
        # with the journey that recorded it.
        pending: dict[str, list[tuple[Journey, StatusChanged]]] = defaultdict(list)
        for journey in self.journeys.seen:
            pending[journey.workspace_id] += [(journey, change) for change in journey.events]
            journey.events.clear()
        for journey, change in (pair for pairs in pending.values() for pair in pairs):
            for reaction in self.reactions:
                if reaction.selects(journey, change):
                    reaction.handle(self, change)
        # The events are logged last, just before COMMIT: numbering them locks
        # the workspace's counter row until the transaction ends, so the less
        # work left after it, the less other writers wait.
        for workspace_id, pairs in pending.items():
            if pairs:
                changes = [change for _, change in pairs]
                self.logged += event_log.append_all(self.connection, workspace_id, changes)
        self._transaction.commit()


async def in_unit_of_work(
    database: Database, reactions: Sequence[Reaction], work: Callable[[UnitOfWork], T]
) -> tuple[T, UnitOfWork]:
    """Run `work` in a new unit of work that runs `reactions` at commit, in one hop
    to a database thread; `work` commits it, or it is rolled back. Returns what
    `work` returned, and the unit of work (what it logged, the journeys it saw,
    what it left for after the commit) for the after-commit hand-off."""

    def run(connection: Connection) -> tuple[T, UnitOfWork]:
        with UnitOfWork(connection, reactions) as uow:
            return work(uow), uow

    return await database.write(run)
