"""Tracked events with properties (SQLite and PostgreSQL): kept append-only with
their time, profiles made for new customers, a bad event refusing the whole call
with nothing written, a journey's triggerWhere deciding which events trigger it,
and retention deleting old events in batches. The clock is moved by the test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, func, select

from domain.actions import Action
from domain.conditions import AttributeCondition, ConditionOp
from domain.content import Content, JourneyKind, Step, StepType
from domain.customers import MAX_PROPERTIES
from domain.entry import MAX_EVENT_BATCH, Refusal
from domain.errors import ValidationFailed
from domain.journey import Journey
from gql.entry.mutations import _track_results
from jobs.retention import RetentionLoop
from jobs.runners import runners_for, worker_runners
from service.clock import ManualClock
from service.entry import Refused, TrackedEvent
from service.event_retention import EventRetention
from service.services import Services
from service.settings import SettingsError
from store import customer_events as event_store
from store import customer_import as import_store
from store.compiled import Statement
from store.tables import CUSTOMER_EVENTS, CUSTOMER_IMPORTS, CUSTOMERS, ENROLLMENTS
from tests.conftest import T0, Callers
from tests.environment import settings_in

pytestmark = pytest.mark.anyio

OFFER = Step(StepType.SEND, channel="log", template="offer")
BIG_SPENDER = (AttributeCondition("amount", ConditionOp.GREATER_THAN, 100),)


async def running(
    services: Services, callers: Callers, trigger: str = "purchase", **content: Any
) -> Journey:
    journey = await services.commands.create(
        callers.editor,
        name="Thanks",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=(OFFER,), trigger_event=trigger, **content),
    )
    return await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)


async def rows(services: Services, table: Any) -> list[Any]:
    def read(connection: Connection) -> list[Any]:
        return list(connection.execute(select(table)))

    return await services.database.read(read)


async def event_rows(services: Services) -> list[Any]:
    def read(connection: Connection) -> list[Any]:
        return list(connection.execute(select(CUSTOMER_EVENTS).order_by(CUSTOMER_EVENTS.c.id)))

    return await services.database.read(read)


async def count(services: Services, table: Any) -> int:
    def read(connection: Connection) -> int:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())

    return await services.database.read(read)


@contextmanager
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL text of every statement sent meanwhile (of any engine): through
    SQLAlchemy, or on the driver's cursor by a compiled statement (store.compiled)."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    run = Statement._run

    def run_and_note(self: Statement, connection: Connection, form: Any, values: Any) -> Any:
        seen.append(form.sql)
        return run(self, connection, form, values)

    event.listen(Engine, "before_cursor_execute", before)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(Statement, "_run", run_and_note)
            yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)


async def test_properties_and_time_are_kept_and_profiles_made(
    services: Services, callers: Callers, clock: ManualClock
):
    earlier = T0 - timedelta(days=2)
    await services.entry.track(
        callers.editor,
        [
            TrackedEvent("purchase", "ann", {"amount": 120.5, "sku": "A-1", "gift": True}, earlier),
            TrackedEvent("visit", "bob"),
            TrackedEvent("visit", "bad\x00id", {"page": "home"}),  # refused, not kept
        ],
    )
    kept = await event_rows(services)
    assert [(e.workspace_id, e.customer_id, e.name) for e in kept] == [
        ("acme", "ann", "purchase"),
        ("acme", "bob", "visit"),
    ]
    assert kept[0].properties == {"amount": 120.5, "sku": "A-1", "gift": True}
    assert kept[0].at == earlier and kept[0].recorded_at == T0
    assert kept[1].properties == {} and kept[1].at == T0  # at defaults to the clock's now
    profiles = {row.id: row.attributes for row in await rows(services, CUSTOMERS)}
    assert profiles == {"ann": {}, "bob": {}}

    # Another event of ann: no second profile; she reads her events.
    clock.advance(minutes=1)
    await services.entry.track(callers.editor, [TrackedEvent("visit", "ann", {"n": 1})])
    assert (await count(services, CUSTOMERS), await count(services, CUSTOMER_EVENTS)) == (2, 3)
    found = await services.customers.events(callers.viewer, "ann", 10)
    assert [(e.name, dict(e.properties), e.at) for e in found] == [
        ("visit", {"n": 1}, T0 + timedelta(minutes=1)),
        ("purchase", {"amount": 120.5, "sku": "A-1", "gift": True}, earlier),
    ]


async def test_a_batch_is_one_insert_of_events(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    events = [
        TrackedEvent("visit", f"c{n}", {"n": n}, T0 - timedelta(seconds=n))
        for n in range(MAX_EVENT_BATCH)
    ]
    with statements(monkeypatch) as seen:
        await services.entry.track(callers.editor, events)
    assert len([sql for sql in seen if "INSERT INTO customer_events" in sql]) == 1
    assert await count(services, CUSTOMER_EVENTS) == MAX_EVENT_BATCH
    assert await count(services, CUSTOMERS) == MAX_EVENT_BATCH


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({f"p{n}": n for n in range(MAX_PROPERTIES + 1)}, "at most 50 keys, not 51"),
        ({"cart": {"sku": "A-1"}}, "not an object or a list"),
        ({"blob": "x" * 1_000_000}, "at most 1000 characters"),
        (["amount", 1], "must be a JSON object"),
        ({"bad name": 1}, "is not a name"),
    ],
)
async def test_bad_properties_refuse_the_whole_call_and_write_nothing(
    services: Services, callers: Callers, bad: Any, problem: str
):
    journey = await running(services, callers)
    good = TrackedEvent("purchase", "ann", {"amount": 500})
    with pytest.raises(ValidationFailed) as refused:
        await services.entry.track(
            callers.editor, [good, good, good, TrackedEvent("purchase", "bob", bad)]
        )
    assert refused.value.message.startswith("events[3]: properties")
    assert problem in refused.value.message
    assert await count(services, CUSTOMER_EVENTS) == 0
    assert await count(services, ENROLLMENTS) == 0
    assert await count(services, CUSTOMERS) == 0
    assert (await services.reads.counters([journey.id]))[journey.id].entered == 0


async def test_an_event_time_ahead_or_without_offset_is_refused(
    services: Services, callers: Callers, clock: ManualClock
):
    await running(services, callers)
    with pytest.raises(ValidationFailed, match=r"^events\[1\]: at is .*minutes ahead of now"):
        await services.entry.track(
            callers.editor,
            [
                TrackedEvent("purchase", "ann", {"amount": 500}),
                TrackedEvent("purchase", "bob", at=T0 + timedelta(hours=1)),
            ],
        )
    with pytest.raises(ValidationFailed, match="UTC offset"):
        await services.entry.track(
            callers.editor, [TrackedEvent("purchase", "bob", at=T0.replace(tzinfo=None))]
        )
    # A single event (trackEvent) is not named by index; a blank name is refused too.
    with pytest.raises(ValidationFailed, match=r"^name must not be blank"):
        await services.entry.track(callers.editor, [TrackedEvent(" ", "ann")], indexed=False)
    assert (await count(services, CUSTOMER_EVENTS), await count(services, ENROLLMENTS)) == (0, 0)

    # A client's clock a little ahead is tolerated.
    await services.entry.track(
        callers.editor, [TrackedEvent("purchase", "bob", at=T0 + timedelta(minutes=4))]
    )
    assert [e.at for e in await event_rows(services)] == [T0 + timedelta(minutes=4)]


async def test_trigger_where_admits_only_matching_events(services: Services, callers: Callers):
    big = await running(services, callers, trigger_where=BIG_SPENDER)
    every = await running(services, callers)
    paused = await running(services, callers, trigger_where=BIG_SPENDER)
    await services.commands.take(callers.editor, paused.id, Action.FREEZE)

    small, no_amount, text_amount, large, invalid = await services.entry.track(
        callers.editor,
        [
            TrackedEvent("purchase", "ann", {"amount": 100}),
            TrackedEvent("purchase", "bob", {}),
            TrackedEvent("purchase", "cy", {"amount": "500"}),  # a text is not a number
            TrackedEvent("purchase", "dee", {"amount": 100.01}),
            TrackedEvent("purchase", "bad\x00id", {"amount": 1}),
        ],
    )
    # Not triggered: neither an admission nor a refusal of `big` (nor of the frozen one).
    for tracked, customer in ((small, "ann"), (no_amount, "bob"), (text_amount, "cy")):
        assert (tracked.entered, tracked.refused) == ([every.id], []), customer
    assert large.entered == [big.id, every.id]
    assert large.refused == [Refused(paused.id, Refusal.NOT_ADMITTING)]
    assert set(invalid.refused) == {Refused(every.id, Refusal.INVALID_ID)}
    counters = await services.reads.counters([big.id, every.id])
    assert (counters[big.id].entered, counters[every.id].entered) == (1, 4)
    # Every event with a valid id is kept, whichever journeys it triggered.
    assert await count(services, CUSTOMER_EVENTS) == 4


async def test_trigger_where_of_the_live_version_counts(services: Services, callers: Callers):
    journey = await running(services, callers, trigger_where=BIG_SPENDER)
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    # A pending version (live only on REACTIVATE) without the filter.
    await services.commands.update(callers.editor, journey.id, {"trigger_where": ()})
    [before] = await services.entry.track(
        callers.editor, [TrackedEvent("purchase", "ann", {"amount": 5})]
    )
    assert (before.entered, before.refused) == ([], [])  # still the live filter
    await services.commands.take(callers.editor, journey.id, Action.REACTIVATE)
    [after] = await services.entry.track(
        callers.editor, [TrackedEvent("purchase", "ann", {"amount": 5})]
    )
    assert after.entered == [journey.id]


async def test_converted_and_released_are_empty_for_now(services: Services, callers: Callers):

    class Loader:
        async def load(self, journey_id: str) -> Any:
            return await services.reads.journey("acme", journey_id)

    class Context:
        def journey_loader(self) -> Loader:
            return Loader()

    class Info:
        context = Context()

    journey = await running(services, callers)
    tracked = await services.entry.track(
        callers.editor, [TrackedEvent("purchase", "ann", {"amount": 5})]
    )
    [result] = await _track_results(Info(), tracked)  # type: ignore[arg-type]
    assert [j.id for j in result.entered] == [journey.id]
    assert (result.converted, result.released) == ([], [])


async def test_retention_removes_only_old_events_in_batches(
    services: Services, callers: Callers, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
):
    old = [
        TrackedEvent("visit", f"old{n}", {"n": n}, T0 - timedelta(days=2, minutes=n))
        for n in range(7)
    ]
    await services.entry.track(callers.editor, old)
    clock.advance(days=1)
    await services.entry.track(
        callers.editor,
        [TrackedEvent("visit", "recent", at=T0 + timedelta(hours=1)), TrackedEvent("x", "now")],
    )
    batches: list[int] = []
    delete = event_store.delete_older_than

    def counted(connection: Connection, cutoff: Any, limit: int) -> int:
        batches.append(deleted := delete(connection, cutoff, limit))
        return deleted

    monkeypatch.setattr(event_store, "delete_older_than", counted)
    retention = EventRetention(services.database, clock, days=2, batch_size=3)
    assert await retention.prune() == 7  # older than T0 + 1 day - 2 days: the 7
    assert batches == [3, 3, 1]  # each batch its own transaction
    assert sorted(e.customer_id for e in await event_rows(services)) == ["now", "recent"]
    assert await retention.prune() == 0

    clock.advance(days=2)  # now T0 + 3 days: cutoff T0 + 1 day
    assert await retention.prune() == 1  # `recent`, at T0 + 1 hour
    assert [e.customer_id for e in await event_rows(services)] == ["now"]
    # Profiles are not events: retention leaves them.
    assert await count(services, CUSTOMERS) == 9


async def test_retention_days_is_a_setting_with_bounds():

    assert settings_in({}).event_retention_days == 90
    assert settings_in({"JOURNEYS_EVENT_RETENTION_DAYS": "7"}).event_retention_days == 7
    for bad in ("0", "3651", "soon"):
        with pytest.raises(SettingsError, match="JOURNEYS_EVENT_RETENTION_DAYS"):
            settings_in({"JOURNEYS_EVENT_RETENTION_DAYS": bad})
    shown = {s.variable: s for s in settings_in({}).described()}
    assert shown["JOURNEYS_EVENT_RETENTION_DAYS"].default == "90"


async def test_the_embedded_runner_and_the_worker_run_retention_and_sweep_imports(
    services: Services, callers: Callers, clock: ManualClock
):

    assert any(isinstance(runner, RetentionLoop) for runner in runners_for(services))
    assert any(isinstance(runner, RetentionLoop) for runner in worker_runners(services))

    await services.entry.track(
        callers.editor, [TrackedEvent("visit", "ann", at=T0), TrackedEvent("visit", "bob")]
    )
    abandoned = import_store.new_import_id(clock.now())
    await services.database.transaction(
        lambda c: import_store.stage(c, abandoned, [1], ["ann"], ['{"a":1}'])
    )
    clock.advance(days=90, seconds=1)  # ann's event is past the default 90 days; bob's too
    await services.entry.track(callers.editor, [TrackedEvent("visit", "cy")])
    loop = RetentionLoop(services)
    task = asyncio.create_task(loop.run())  # prunes at once, then rests an hour
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while await count(services, CUSTOMER_EVENTS) > 1 or await count(services, CUSTOMER_IMPORTS):
            assert asyncio.get_running_loop().time() < deadline, "retention did not run"
            await asyncio.sleep(0.01)
    finally:
        loop.stop()
        await asyncio.wait_for(task, 10)
    assert [e.customer_id for e in await event_rows(services)] == ["cy"]
