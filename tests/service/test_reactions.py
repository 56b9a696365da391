"""The reactions to status changes: the unit of work runs the table it is given,
in the transaction that records the changes (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select, update

from domain.actions import Action
from domain.events import StatusChanged
from domain.statuses import Status
from service.services import Services
from store.tables import EVENTS, JOURNEYS
from store.unit_of_work import Reaction, UnitOfWork, in_unit_of_work
from tests.conftest import Callers
from tests.service.test_commands import new_journey
from tests.service.test_segments import segment

pytestmark = pytest.mark.anyio


@dataclass
class Renaming:
    """A reaction of a test's: renames the journey, and notes what it saw."""

    heard: list[StatusChanged] = field(default_factory=list)
    logged_before: list[int] = field(default_factory=list)

    def handle(self, uow: UnitOfWork, change: StatusChanged) -> None:
        assert uow.connection.in_transaction()
        self.heard.append(change)
        logged = select(func.count()).where(EVENTS.c.journey_id == change.journey_id)
        self.logged_before.append(uow.connection.execute(logged).scalar_one())
        uow.connection.execute(
            update(JOURNEYS).where(JOURNEYS.c.id == change.journey_id).values(name="Reacted")
        )

    def reaction(self) -> Reaction:
        return Reaction(
            selects=lambda _, change: change.status is Status.ACTIVE, handle=self.handle
        )


def fails(uow: UnitOfWork, change: StatusChanged) -> None:
    raise RuntimeError("a reaction failed")


def activating(
    services: Services, callers: Callers, journey_id: str
) -> Callable[[UnitOfWork], None]:
    """The work of activating the journey, committed."""

    def work(uow: UnitOfWork) -> None:
        journey = uow.journeys.get("acme", journey_id)
        journey.take(Action.ACTIVATE, callers.editor.actor, services.clock.now())
        uow.commit()

    return work


async def test_a_commit_runs_the_reactions_it_was_given_before_logging(
    services: Services, callers: Callers
):
    journey = await new_journey(services, callers)
    logged = len(await services.reads.status_events("acme", journey_id=journey.id, first=100))
    renaming = Renaming()

    await in_unit_of_work(
        services.database, [renaming.reaction()], activating(services, callers, journey.id)
    )

    assert [(c.journey_id, c.status) for c in renaming.heard] == [(journey.id, Status.ACTIVE)]
    assert renaming.logged_before == [logged]  # the change itself is logged after
    stored = await services.reads.journey("acme", journey.id)
    assert stored is not None and stored.status is Status.ACTIVE and stored.name == "Reacted"


async def test_a_commit_that_fails_undoes_its_reactions_writes(
    services: Services, callers: Callers
):
    journey = await new_journey(services, callers)
    renaming = Renaming()
    reactions = [renaming.reaction(), Reaction(selects=lambda _, __: True, handle=fails)]

    with pytest.raises(RuntimeError, match="a reaction failed"):
        await in_unit_of_work(
            services.database, reactions, activating(services, callers, journey.id)
        )

    assert len(renaming.heard) == 1
    stored = await services.reads.journey("acme", journey.id)
    assert stored is not None and stored.status is Status.DESIGNING and stored.name == "Welcome"


async def test_a_segment_that_begins_loading_tells_the_loaders_after_commit(
    services: Services, callers: Callers
):
    journey = await segment(services, callers)
    assert not services.loads_ready.is_set()

    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)

    assert services.loads_ready.is_set()
