"""Segment journeys whose audience is a condition (SQLite and PostgreSQL): versioned
like the rest of the content, loaded in id order a batch at a time from a cursor
in the database, stopped by FREEZE and ERROR and resumed, nobody twice, then
AUDIENCE_LOADED. The loader is run by hand; profiles are written straight to
their table."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import insert, select

import service.segments
from domain.actions import Action
from domain.condition_json import condition_from_json
from domain.content import Content, JourneyKind, Step, StepType
from domain.errors import TransitionNotAllowed, ValidationFailed
from domain.journey import Journey
from domain.statuses import Status
from jobs.loading import LoadingLoop
from service.services import Services
from store.tables import CUSTOMERS, ENROLLMENTS
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

OFFER = Step(StepType.SEND, channel="log", template="birthday-offer")
BORN_IN_MAY_IN_VN = condition_from_json(
    {
        "all": [
            {"attribute": {"name": "birthday", "op": "MONTH_IS", "value": 5}},
            {"attribute": {"name": "country", "op": "EQUALS", "value": "VN"}},
        ]
    }
)


async def add_profiles(services: Services, workspace: str, profiles: dict[str, dict[str, Any]]):
    def write(connection: Any) -> None:
        connection.execute(
            insert(CUSTOMERS),
            [
                {
                    "workspace_id": workspace,
                    "id": id_,
                    "attributes": attributes,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for id_, attributes in profiles.items()
            ],
        )

    await services.database.transaction(write)


async def inside(services: Services, journey: Journey) -> list[str]:
    def read(connection: Any) -> list[str]:
        rows = connection.execute(
            select(ENROLLMENTS.c.customer_id)
            .where(ENROLLMENTS.c.journey_id == journey.id)
            .order_by(ENROLLMENTS.c.customer_id)
        )
        return [row.customer_id for row in rows]

    return await services.database.read(read)


async def by_condition(services: Services, callers: Callers) -> Journey:
    return await services.commands.create(
        callers.editor,
        name="May birthdays in Vietnam",
        kind=JourneyKind.SEGMENT_SCHEDULED,
        content=Content(steps=(OFFER,), audience_condition=BORN_IN_MAY_IN_VN),
    )


def may_and_others(n: int) -> dict[str, dict[str, Any]]:
    """n customers born in May in VN (c000, c002...) between as many who are not."""
    profiles = {}
    for i in range(2 * n):
        month = 5 if i % 2 == 0 else 6
        profiles[f"c{i:03d}"] = {"birthday": f"1990-{month:02d}-14", "country": "VN"}
    return profiles


async def test_a_condition_loads_the_matching_profiles_in_batches_then_closes(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service.segments, "LOAD_BATCH", 2)
    await add_profiles(services, "acme", may_and_others(5))
    await add_profiles(services, "other", {"c000": {"birthday": "1990-05-01", "country": "VN"}})
    journey = await by_condition(services, callers)
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)

    assert await services.loading.load_batch() == 2  # a batch at a time, in id order
    assert await inside(services, journey) == ["c000", "c002"]
    assert await services.loading.load_batch() == 2
    assert await status_of(services, journey) is Status.ACTIVE
    # One match left, fewer than a batch takes: the last batch, which closes.
    assert await services.loading.load_batch() == 1
    assert await status_of(services, journey) is Status.CLOSED  # AUDIENCE_LOADED
    assert await inside(services, journey) == ["c000", "c002", "c004", "c006", "c008"]
    assert await services.loading.load_batch() is None


async def test_the_loader_is_told_when_a_load_begins(services: Services, callers: Callers):
    """An ACTIVATE wakes the loader at once: it would look again only after an hour
    here."""
    await add_profiles(services, "acme", may_and_others(3))
    journey = await by_condition(services, callers)
    loop = LoadingLoop(services, poll_seconds=3600)
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.sleep(0.05)  # its first pass, with nothing to load, is over
        await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
        deadline = asyncio.get_running_loop().time() + 10
        while await status_of(services, journey) is not Status.CLOSED:
            assert asyncio.get_running_loop().time() < deadline, "the loader was not told"
            await asyncio.sleep(0.01)
    finally:
        loop.stop()
        await asyncio.wait_for(task, 10)
    assert await inside(services, journey) == ["c000", "c002", "c004"]
    [*_, loaded] = await services.reads.status_events("acme", journey_id=journey.id)
    assert loaded.change.action is Action.AUDIENCE_LOADED


async def status_of(services: Services, journey: Journey) -> Status:
    found = await services.reads.journey("acme", journey.id)
    assert found is not None
    return found.status


@pytest.mark.parametrize(
    "stop, restart", [(Action.FREEZE, Action.REACTIVATE), (Action.FAIL, Action.RECOVER)]
)
async def test_a_stopped_condition_load_resumes_from_its_cursor_admitting_nobody_twice(
    services: Services,
    callers: Callers,
    monkeypatch: pytest.MonkeyPatch,
    stop: Action,
    restart: Action,
):
    monkeypatch.setattr(service.segments, "LOAD_BATCH", 2)
    await add_profiles(services, "acme", may_and_others(5))
    journey = await by_condition(services, callers)
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.loading.load_batch()
    await services.commands.take(callers.admin, journey.id, stop, reason="held for a check")
    assert await services.loading.run_all() == 0  # FROZEN and ERROR stop the load
    await services.commands.take(callers.admin, journey.id, restart)
    assert await services.loading.run_all() == 3
    assert await inside(services, journey) == ["c000", "c002", "c004", "c006", "c008"]
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert stats.entered == 5


async def test_the_condition_is_versioned_and_fixed_once_the_journey_runs(
    services: Services, callers: Callers
):
    journey = await by_condition(services, callers)
    assert journey.latest.content.audience_condition == BORN_IN_MAY_IN_VN
    born_in_june = condition_from_json(
        {"attribute": {"name": "birthday", "op": "MONTH_IS", "value": 6}}
    )
    edited = await services.commands.update(
        callers.editor, journey.id, {"audience_condition": born_in_june}
    )
    assert edited.latest.number == 2
    assert edited.latest.content.audience_condition == born_in_june
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    with pytest.raises(TransitionNotAllowed, match="cannot change"):
        await services.commands.update(
            callers.editor, journey.id, {"audience_condition": BORN_IN_MAY_IN_VN}
        )


async def test_a_list_replaces_the_condition_and_both_at_once_are_refused(
    services: Services, callers: Callers
):
    journey = await by_condition(services, callers)
    edited = await services.commands.update(callers.editor, journey.id, {}, audience_ids=["ann"])
    assert edited.latest.content.audience_condition is None
    assert edited.latest.content.audience is not None
    with pytest.raises(ValidationFailed, match="a list or a condition, not both"):
        await services.commands.update(
            callers.editor, journey.id, {"audience_condition": BORN_IN_MAY_IN_VN}
        )


async def test_an_event_triggered_journey_has_no_audience_condition(
    services: Services, callers: Callers
):
    journey = await services.commands.create(
        callers.editor,
        name="Welcome",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(
            steps=(OFFER,), trigger_event="signup", audience_condition=BORN_IN_MAY_IN_VN
        ),
    )
    with pytest.raises(TransitionNotAllowed, match="only a segment journey has an audience"):
        await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)


async def test_the_estimate_counts_the_matching_profiles_of_the_workspace_only(
    services: Services, callers: Callers
):
    await add_profiles(services, "acme", may_and_others(4))
    await add_profiles(services, "other", {"c000": {"birthday": "1990-05-01", "country": "VN"}})
    assert await services.customers.count(callers.viewer, BORN_IN_MAY_IN_VN) == 4
    assert await services.customers.count(callers.outsider, BORN_IN_MAY_IN_VN) == 1
