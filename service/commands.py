"""The journey commands: one method per use case, each one transaction.

Each command is a plain function over a unit of work, run in one hop to a
database thread: read the journey (locked), let the aggregate decide
(it checks the caller's rights and the rules), commit (with the writes the
status changes call for: service/reactions.py). After the commit,
the bus hears which workspaces have news (and which journeys were written
without a status change) and the scheduler which journeys may have a new
due date.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from domain.actions import Action, Actor, require_write
from domain.audience import inline_audience
from domain.content import AudienceList, Content, JourneyKind
from domain.errors import NotFound, TransitionNotAllowed
from domain.journey import Journey
from domain.timing import timed_date
from service.bus import EventBus
from service.clock import Clock
from service.metrics import Metrics
from service.reactions import REACTIONS, AfterCommit
from service.scheduling import Scheduler
from service.tokens import Principal
from store import audience_lists
from store.database import Database
from store.unit_of_work import UnitOfWork, in_unit_of_work

log = logging.getLogger(__name__)

T = TypeVar("T")

# Journeys moved per transaction by the timed-transition sweep: one SELECT,
# an UPDATE per kind of move, one counter bump and one INSERT of the events.
SWEEP_BATCH = 500


class JourneyCommands:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        bus: EventBus,
        scheduler: Scheduler,
        metrics: Metrics | None = None,
    ) -> None:
        self._database = database
        self._clock = clock
        self._bus = bus
        self._scheduler = scheduler
        self._metrics = metrics or Metrics()

    # -- content and identity ---------------------------------------------

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        kind: JourneyKind,
        content: Content,
        labels: Iterable[str] = (),
        audience_ids: Sequence[str] | None = None,
    ) -> Journey:
        """A new journey in DESIGNING; `audience_ids`, an inline list, become a list
        of rows in the same transaction, which its first version refers to."""
        customer_ids = inline_audience(audience_ids or ())

        def add(uow: UnitOfWork) -> Journey:
            now = self._clock.now()
            audience = self._inline_list(uow, principal, customer_ids)
            journey = Journey.create(
                id=str(uuid.uuid4()),
                workspace_id=principal.workspace_id,
                name=name,
                kind=kind,
                content=replace(content, audience=audience) if audience else content,
                author=principal.actor,
                now=now,
                labels=labels,
            )
            uow.journeys.add(journey)
            uow.commit()
            return journey

        return await self.run(add)

    async def update(
        self,
        principal: Principal,
        journey_id: str,
        changes: Mapping[str, object],
        expected_revision: int | None = None,
        audience_ids: Sequence[str] | None = None,
    ) -> Journey:
        """Edit the content; `audience_ids`, when given, is a new inline list ([]
        clears it), written as rows in the same transaction."""
        customer_ids = inline_audience(audience_ids) if audience_ids is not None else None

        def edit(journey: Journey, uow: UnitOfWork) -> None:
            edits = dict(changes)
            if customer_ids is not None:
                edits["audience"] = self._inline_list(uow, principal, customer_ids)
                if customer_ids:
                    edits.setdefault("audience_condition", None)  # a list replaces it
            journey.edit(edits, principal.actor, self._clock.now())

        return await self._change(principal, journey_id, expected_revision, edit)

    async def attach_list(
        self, principal: Principal, journey_id: str, list_pk: int, list_id: str
    ) -> Journey:
        """An uploaded list is whole: it is counted and becomes the journey's audience,
        in one transaction, as an edit the journey's status must allow."""

        def attach(journey: Journey, uow: UnitOfWork) -> None:
            now = self._clock.now()
            audience = audience_lists.complete_list(uow.connection, list_pk, list_id, now)
            journey.edit({"audience": audience, "audience_condition": None}, principal.actor, now)

        return await self._change(principal, journey_id, None, attach)

    async def restore_version(
        self,
        principal: Principal,
        journey_id: str,
        number: int,
        expected_revision: int | None = None,
    ) -> Journey:
        def restore(journey: Journey, uow: UnitOfWork) -> None:
            old = uow.journeys.version(journey.id, number)
            if old is None:
                raise NotFound(f"journey {journey_id!r} has no version {number}")
            journey.restore(old, principal.actor, self._clock.now())

        return await self._change(principal, journey_id, expected_revision, restore)

    async def rename(
        self,
        principal: Principal,
        journey_id: str,
        name: str,
        expected_revision: int | None = None,
    ) -> Journey:
        return await self._change(
            principal,
            journey_id,
            expected_revision,
            lambda journey, _uow: journey.rename(name, principal.actor, self._clock.now()),
        )

    async def set_labels(
        self,
        principal: Principal,
        journey_id: str,
        labels: list[str],
        expected_revision: int | None = None,
    ) -> Journey:
        return await self._change(
            principal,
            journey_id,
            expected_revision,
            lambda journey, _uow: journey.set_labels(labels, principal.actor, self._clock.now()),
        )

    async def copy(self, principal: Principal, journey_id: str, name: str | None) -> Journey:
        require_write(principal.actor)

        def copy(uow: UnitOfWork) -> Journey:
            source = uow.journeys.get(principal.workspace_id, journey_id)
            copied = source.copy(
                new_id=str(uuid.uuid4()), name=name, author=principal.actor, now=self._clock.now()
            )
            uow.journeys.add(copied)
            uow.commit()
            return copied

        return await self.run(copy)

    async def delete(self, principal: Principal, journey_id: str) -> str:
        require_write(principal.actor)

        def delete(uow: UnitOfWork) -> str:
            journey = uow.journeys.get(principal.workspace_id, journey_id)
            journey.check_deletable(principal.actor, self._clock.now())
            uow.journeys.remove(journey)
            uow.commit()
            return journey_id

        return await self.run(delete)

    # -- status -------------------------------------------------------------

    async def take(
        self,
        principal: Principal,
        journey_id: str,
        action: Action,
        expected_revision: int | None = None,
        reason: str | None = None,
    ) -> Journey:
        """A person's action: ACTIVATE, PAUSE, ... and, for admins, FAIL and RECOVER."""
        return await self._change(
            principal,
            journey_id,
            expected_revision,
            lambda journey, _uow: journey.take(action, principal.actor, self._clock.now(), reason),
        )

    async def fail_by_system(
        self, workspace_id: str, journey_id: str, reason: str
    ) -> Journey | None:
        """The system takes FAIL after a fault (a channel failing again and again):
        the journey goes to ERROR with the reason, logged and announced like any
        change. None when FAIL does not apply (already in ERROR, aborted, gone)."""

        def fail(uow: UnitOfWork) -> Journey | None:
            try:
                journey = uow.journeys.get(workspace_id, journey_id)
                journey.take(Action.FAIL, Actor.system(), self._clock.now(), reason)
            except (NotFound, TransitionNotAllowed):
                return None
            uow.commit()
            return journey

        return await self.run(fail)

    async def apply_all_due(
        self, workspace_id: str | None = None, stopping: asyncio.Event | None = None
    ) -> int:
        """Apply every due timed action found in the database (in one workspace, or all).

        The sweep, and the prompt path of distributed mode, both land here. Works
        in batches, one transaction each, and each batch is a few set-based
        statements whatever its size: the domain decides, journey by journey,
        what is due; the repository writes the moves together. Returns how many
        journeys moved. Once `stopping` is set it returns after the batch under
        way, if any: the rest stays due, for another process's sweep or timer.
        """

        def apply_batch(uow: UnitOfWork) -> int:
            now = self._clock.now()
            batch = uow.journeys.lock_due(now, SWEEP_BATCH, workspace_id)
            for journey in batch:
                journey.take_due(now)
            uow.commit()
            return len(batch)

        moved = 0
        while stopping is None or not stopping.is_set():
            count, uow = await in_unit_of_work(self._database, REACTIONS, apply_batch)
            await self._after_commit(uow)
            moved += count
            if count < SWEEP_BATCH or not uow.logged:
                break
        return moved

    # -- plumbing ---------------------------------------------------------

    def _inline_list(
        self, uow: UnitOfWork, principal: Principal, customer_ids: Sequence[str]
    ) -> AudienceList | None:
        if not customer_ids:
            return None
        return audience_lists.write_list(
            uow.connection, principal.workspace_id, customer_ids, self._clock.now()
        )

    async def _change(
        self,
        principal: Principal,
        journey_id: str,
        expected_revision: int | None,
        change: Callable[[Journey, UnitOfWork], object],
    ) -> Journey:
        """Lock the journey, check the revision, apply `change`, commit."""

        # A viewer is refused before any lookup: its answer never tells whether
        # the journey exists (the aggregate checks the finer rights).
        require_write(principal.actor)

        def work(uow: UnitOfWork) -> Journey:
            journey = uow.journeys.get(principal.workspace_id, journey_id)
            journey.check_revision(expected_revision)
            change(journey, uow)
            uow.commit()
            return journey

        return await self.run(work)

    async def run(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in a unit of work, then hand what it committed on (bus, timers)."""
        result, uow = await in_unit_of_work(self._database, REACTIONS, work)
        await self._after_commit(uow)
        return result

    async def _after_commit(self, uow: UnitOfWork) -> None:
        # The commit already happened: a failure here must not turn it into an
        # error for the caller. Feeds catch up from the log, and the sweep
        # re-plans from the database, anyway.
        try:
            if uow.logged:
                self._metrics.committed(uow.logged, _due_dates(uow))
                await self._bus.announce(event.workspace_id for event in uow.logged)
            if uow.changed:
                await self._bus.announce_changes(uow.changed)
            if AfterCommit.ANNOUNCE_WORK in uow.after_commit:
                await self._bus.announce_work()
            await self._scheduler.plan(list(uow.journeys.seen))
        except Exception:
            log.exception("after-commit hand-off failed")


def _due_dates(uow: UnitOfWork) -> Callable[[str, str], datetime | None]:
    """The date each seen journey's START or END was due at, for the timer's lateness."""
    journeys = {journey.id: journey for journey in uow.journeys.seen}

    def due_at(journey_id: str, action: str) -> datetime | None:
        journey = journeys.get(journey_id)
        if journey is None:
            return None
        return timed_date(Action(action), journey.start_at, journey.end_at)

    return due_at
