"""Property: random status changes, events and time while customers flow.

Whatever happens, admission and processing match the status table (a
journey that holds moves nobody and sends nothing), a refusal names the
right reason, and the counters agree with the rows. Each example runs on a
fresh journey of the test's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

import service.segments
from domain.actions import Action, Role
from domain.content import Content, JourneyKind, Step, StepType
from domain.entry import Refusal, admission_refusal, listens_for_events
from domain.errors import TransitionNotAllowed
from domain.statuses import Status, holds_customers
from service.clock import ManualClock
from service.entry import TrackedEvent
from service.services import Services
from service.settings import Settings
from store.database import sync_url
from tests.conftest import T0

STEPS = (
    Step(StepType.SEND, channel="log", template="offer"),
    Step(StepType.WAIT, seconds=60),
    Step(StepType.SEND, channel="log", template="thanks"),
)
ACTIONS = [
    Action.PAUSE,
    Action.RESUME,
    Action.FREEZE,
    Action.CLOSE,
    Action.REACTIVATE,
    Action.FAIL,
    Action.RECOVER,
    Action.ABORT,
]

operation = st.one_of(
    st.tuples(st.just("track"), st.sampled_from(["ann", "bob", "cy", "dee"])),
    st.tuples(st.just("take"), st.sampled_from(ACTIONS)),
    st.tuples(st.just("wait"), st.sampled_from([10, 45, 90, 400])),
    st.tuples(st.just("process"), st.none()),
)


def test_customers_move_only_as_the_status_allows(database_url: str) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(operation, min_size=5, max_size=25), st.integers(0, 300))
    def check(operations: list[tuple[str, object]], delay: int) -> None:
        asyncio.run(_run(database_url, operations, delay))

    check()


async def _run(database_url: str, operations: list[tuple[str, object]], delay: int) -> None:
    clock = ManualClock(T0)
    services = Services.embedded(Settings(database_url=database_url), clock=clock)
    try:
        editor = await services.tokens.authenticate(
            "Bearer " + await services.tokens.create("props", Role.ADMIN, "ada")
        )
        trigger = f"event-{id(operations)}-{clock.now().timestamp()}"
        content = Content(
            steps=STEPS,
            trigger_event=trigger,
            end_at=T0 + timedelta(seconds=900),
            send_delay_seconds=delay,
        )
        journey = await services.commands.create(
            editor, name="Property", kind=JourneyKind.EVENT_TRIGGERED, content=content
        )
        journey = await services.commands.take(editor, journey.id, Action.ACTIVATE)
        for kind, argument in operations:
            status = journey.status
            if kind == "track":
                [tracked] = await services.entry.track(
                    editor, [TrackedEvent(trigger, str(argument))]
                )
                expected = admission_refusal(status, journey.start_at, journey.end_at, clock.now())
                if not listens_for_events(status):
                    assert (tracked.entered, tracked.refused) == ([], [])
                elif expected is None:
                    assert tracked.entered == [journey.id] or [
                        r.reason for r in tracked.refused
                    ] == [Refusal.ALREADY_IN_JOURNEY]
                else:
                    assert [r.reason for r in tracked.refused] == [expected]
            elif kind == "take":
                with contextlib.suppress(TransitionNotAllowed):  # not every action fits
                    journey = await services.commands.take(editor, journey.id, argument)  # type: ignore[arg-type]
            elif kind == "wait":
                clock.advance(seconds=int(argument))  # type: ignore[call-overload]
                await services.commands.apply_all_due()  # END, at the end date
                journey = await services.reads.journey("props", journey.id) or journey
            else:
                before = _rows(database_url, journey.id)
                await services.processing.run_all()
                after = _rows(database_url, journey.id)
                if holds_customers(status) or status is Status.ABORTED:
                    # Nobody moved, nothing went out (an abort only settles rows).
                    assert after["sent"] == before["sent"]
                    if status is not Status.ABORTED:
                        assert after["positions"] == before["positions"]
            _check_counters(database_url, journey.id, await _counters(services, journey.id))
    finally:
        await services.close()


async def _counters(services: Services, journey_id: str):  # type: ignore[no-untyped-def]
    return (await services.reads.counters([journey_id]))[journey_id]


def _check_counters(database_url: str, journey_id: str, counters) -> None:  # type: ignore[no-untyped-def]
    assert counters.entered == counters.inside + counters.completed + counters.exited
    assert min(vars(counters).values()) >= 0
    rows = _rows(database_url, journey_id)
    # Rows the processor has not settled yet (an ABORT's) are counted as settled.
    assert rows["deliveries"]["DELIVERED"] == counters.delivered
    assert rows["deliveries"]["HANDED_OVER"] == counters.handed_over
    assert (
        rows["deliveries"]["QUEUED"] + rows["deliveries"]["CANCELLED"]
        == counters.queued + counters.cancelled
    )


def _rows(database_url: str, journey_id: str) -> dict[str, object]:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            deliveries = Counter(
                dict(
                    connection.execute(
                        text(
                            "SELECT state, count(*) FROM deliveries WHERE journey_id = :j "
                            "GROUP BY state"
                        ),
                        {"j": journey_id},
                    ).all()
                )
            )
            positions = sorted(
                connection.execute(
                    text(
                        "SELECT customer_id, step_index, state FROM enrollments "
                        "WHERE journey_id = :j"
                    ),
                    {"j": journey_id},
                ).all()
            )
    finally:
        engine.dispose()
    return {
        "deliveries": deliveries,
        "positions": positions,
        "sent": deliveries["HANDED_OVER"] + deliveries["DELIVERED"] + deliveries["FAILED"],
    }


segment_operation = st.one_of(
    st.tuples(st.just("load"), st.none()),
    st.tuples(st.just("take"), st.sampled_from(ACTIONS)),
    st.tuples(st.just("wait"), st.sampled_from([10, 45, 90, 400])),
    st.tuples(st.just("process"), st.none()),
)
LIST = [f"member-{n}" for n in range(7)]


def test_a_segment_list_loads_only_as_the_status_allows(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.segments, "LOAD_BATCH", 3)

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(segment_operation, min_size=5, max_size=25))
    def check(operations: list[tuple[str, object]]) -> None:
        asyncio.run(_run_segment(database_url, operations))

    check()


async def _run_segment(database_url: str, operations: list[tuple[str, object]]) -> None:
    clock = ManualClock(T0)
    services = Services.embedded(Settings(database_url=database_url), clock=clock)
    try:
        admin = await services.tokens.authenticate(
            "Bearer " + await services.tokens.create("props", Role.ADMIN, "ada")
        )
        journey = await services.commands.create(
            admin,
            name="Segment property",
            kind=JourneyKind.SEGMENT_SCHEDULED,
            content=Content(steps=STEPS, end_at=T0 + timedelta(seconds=900)),
            audience_ids=LIST,
        )
        journey = await services.commands.take(admin, journey.id, Action.ACTIVATE)
        for kind, argument in operations:
            status = journey.status
            if kind == "load":
                before = (await _counters(services, journey.id)).entered
                await services.loading.load_batch()
                entered = (await _counters(services, journey.id)).entered
                journey = await services.reads.journey("props", journey.id) or journey
                admits = admission_refusal(status, journey.start_at, journey.end_at, clock.now())
                if admits is not None:
                    assert entered == before  # nobody enters a journey that admits nobody
                if journey.status is not status:
                    # Only the loader's own AUDIENCE_LOADED, once the whole list is in.
                    assert (status, journey.status) == (Status.ACTIVE, Status.CLOSED)
                    assert entered == len(LIST)
            elif kind == "take":
                with contextlib.suppress(TransitionNotAllowed):
                    journey = await services.commands.take(admin, journey.id, argument)  # type: ignore[arg-type]
            elif kind == "wait":
                clock.advance(seconds=int(argument))  # type: ignore[call-overload]
                await services.commands.apply_all_due()
                journey = await services.reads.journey("props", journey.id) or journey
            else:
                before_rows = _rows(database_url, journey.id)
                await services.processing.run_all()
                if holds_customers(status):
                    assert _rows(database_url, journey.id)["sent"] == before_rows["sent"]
            counters = await _counters(services, journey.id)
            assert counters.entered <= len(LIST)
            _check_counters(database_url, journey.id, counters)
            customers = [row[0] for row in _rows(database_url, journey.id)["positions"]]  # type: ignore[attr-defined]
            assert len(customers) == len(set(customers))  # nobody admitted twice
    finally:
        await services.close()
