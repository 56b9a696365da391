"""The journey commands: one method per use case, each one transaction."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from domain.actions import Action, Actor, may_write
from domain.content import Content, JourneyKind
from domain.errors import Forbidden, NotFound
from domain.events import LoggedStatusChange
from domain.journey import Journey
from service.bus import EventBus
from service.clock import Clock
from service.scheduling import Scheduler
from service.tokens import Principal
from store.database import Database
from store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

SWEEP_BATCH = 100


def _require_writer(principal: Principal) -> None:
    if not may_write(principal.role):
        raise Forbidden(
            f"a {principal.role.value} token can only read; an editor or admin token is needed"
        )


class JourneyCommands:
    def __init__(
        self, database: Database, clock: Clock, bus: EventBus, scheduler: Scheduler
    ) -> None:
        self._database = database
        self._clock = clock
        self._bus = bus
        self._scheduler = scheduler

    # -- content and identity ---------------------------------------------

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        kind: JourneyKind,
        content: Content,
        labels: Iterable[str] = (),
    ) -> Journey:
        _require_writer(principal)
        journey = Journey.create(
            id=str(uuid.uuid4()),
            workspace_id=principal.workspace_id,
            name=name,
            kind=kind,
            content=content,
            author=principal.token_name,
            now=self._clock.now(),
            labels=labels,
        )
        async with UnitOfWork(self._database) as uow:
            await uow.add(journey)
            await uow.commit()
        return journey

    async def update(
        self,
        principal: Principal,
        journey_id: str,
        changes: Mapping[str, object],
        expected_revision: int | None = None,
    ) -> Journey:
        _require_writer(principal)
        return await self._change(
            principal.workspace_id,
            journey_id,
            expected_revision,
            lambda journey, _uow: journey.edit(changes, principal.actor, self._clock.now()),
        )

    async def restore_version(
        self,
        principal: Principal,
        journey_id: str,
        number: int,
        expected_revision: int | None = None,
    ) -> Journey:
        _require_writer(principal)

        async def restore(journey: Journey, uow: UnitOfWork) -> None:
            old = await uow.journeys.version(journey.id, number)
            if old is None:
                raise NotFound(f"journey {journey_id!r} has no version {number}")
            journey.restore(old, principal.actor, self._clock.now())

        return await self._change(principal.workspace_id, journey_id, expected_revision, restore)

    async def rename(
        self,
        principal: Principal,
        journey_id: str,
        name: str,
        expected_revision: int | None = None,
    ) -> Journey:
        _require_writer(principal)
        return await self._change(
            principal.workspace_id,
            journey_id,
            expected_revision,
            lambda journey, _uow: journey.rename(name, self._clock.now()),
        )

    async def set_labels(
        self,
        principal: Principal,
        journey_id: str,
        labels: list[str],
        expected_revision: int | None = None,
    ) -> Journey:
        _require_writer(principal)
        return await self._change(
            principal.workspace_id,
            journey_id,
            expected_revision,
            lambda journey, _uow: journey.set_labels(labels, self._clock.now()),
        )

    async def copy(self, principal: Principal, journey_id: str, name: str | None) -> Journey:
        _require_writer(principal)
        async with UnitOfWork(self._database) as uow:
            source = await uow.journeys.get(principal.workspace_id, journey_id)
            copy = source.copy(
                new_id=str(uuid.uuid4()),
                name=name,
                author=principal.token_name,
                now=self._clock.now(),
            )
            await uow.add(copy)
            await uow.commit()
        return copy

    async def delete(self, principal: Principal, journey_id: str) -> str:
        _require_writer(principal)
        async with UnitOfWork(self._database) as uow:
            journey = await uow.journeys.get(principal.workspace_id, journey_id)
            journey.check_deletable(principal.actor, self._clock.now())
            await uow.journeys.remove(journey)
            await uow.commit()
        return journey_id

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
            principal.workspace_id,
            journey_id,
            expected_revision,
            lambda journey, _uow: journey.take(action, principal.actor, self._clock.now(), reason),
        )

    async def apply_all_due(self, workspace_id: str | None = None) -> int:
        """Apply every due timed action found in the database (in one workspace, or all).

        The sweep, and the prompt path of distributed mode, both land here. Works
        in batches, one transaction each, so a storm of journeys due at the same
        second costs a few transactions, not one each. Returns how many moved.
        """
        moved = 0
        while True:
            async with UnitOfWork(self._database) as uow:
                now = self._clock.now()
                batch = await uow.journeys.lock_due(now, SWEEP_BATCH, workspace_id)
                for journey in batch:
                    while (action := journey.due_action(now)) is not None:
                        journey.take(action, Actor.system(), now)
                    await uow.save(journey)
                await uow.commit()
            await self._after_commit(uow.logged, *batch)
            moved += len(batch)
            if len(batch) < SWEEP_BATCH or not uow.logged:
                return moved

    # -- plumbing ---------------------------------------------------------

    async def _change(
        self,
        workspace_id: str,
        journey_id: str,
        expected_revision: int | None,
        change: Callable[[Journey, UnitOfWork], object],
    ) -> Journey:
        """Lock the journey, check the revision, apply `change` (sync or async), save."""
        async with UnitOfWork(self._database) as uow:
            journey = await uow.journeys.get(workspace_id, journey_id)
            journey.check_revision(expected_revision)
            outcome = change(journey, uow)
            if inspect.isawaitable(outcome):
                await outcome
            await uow.save(journey)
            await uow.commit()
        await self._after_commit(uow.logged, journey)
        return journey

    async def _after_commit(self, logged: Sequence[LoggedStatusChange], *journeys: Journey) -> None:
        # The commit already happened: a failure here must not turn it into an
        # error for the caller. Feeds catch up from the log, and the sweep
        # re-plans from the database, anyway.
        try:
            if logged:
                await self._bus.announce(event.workspace_id for event in logged)
            for journey in journeys:
                await self._scheduler.plan(journey)
        except Exception:
            log.exception("after-commit hand-off failed")
