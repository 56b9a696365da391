"""Customer profiles (SQLite and PostgreSQL): upserts that merge, each bad change
refused on its own, reading a customer, and erasing one, which leaves nothing
personal behind and keeps the journeys' counters exact."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select

from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType
from domain.counters import JourneyCounters
from domain.customers import MAX_UPSERT_BATCH, CustomerEvent
from domain.errors import ConcurrentChange, Forbidden, ValidationFailed
from domain.journey import Journey
from service.clock import ManualClock
from service.customers import ProfileChange, ProfileRefusal
from service.services import Services
from store import customers as customer_store
from store.tables import (
    AUDIENCE_MEMBERS,
    CUSTOMER_EVENTS,
    CUSTOMERS,
    DELIVERIES,
    ENROLLMENTS,
    JOURNEYS,
)
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

OFFER = Step(StepType.SEND, channel="log", template="offer")
PING = Step(StepType.SEND, channel="webhook", template="ping")
WAIT = Step(StepType.WAIT, seconds=3600)


def change(customer_id: str, **attributes: Any) -> ProfileChange:
    return ProfileChange(customer_id, attributes)


async def attributes(services: Services, callers: Callers, customer_id: str) -> Any:
    found = await services.customers.customer(callers.viewer, customer_id)
    return None if found is None else found.attributes


async def running(
    services: Services, callers: Callers, *steps: Step, trigger: str = "signup", **content: Any
) -> Journey:
    journey = await services.commands.create(
        callers.editor,
        name="Welcome",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=steps, trigger_event=trigger, **content),
    )
    return await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)


async def counters(services: Services, journey: Journey) -> JourneyCounters:
    return (await services.reads.counters([journey.id]))[journey.id]


async def add_events(services: Services, workspace_id: str, customer_id: str, *names: str):
    rows = [
        {
            "workspace_id": workspace_id,
            "customer_id": customer_id,
            "name": name,
            "properties": {"n": n},
            "at": T0 + timedelta(minutes=n),
            "recorded_at": T0,
        }
        for n, name in enumerate(names)
    ]

    def write(connection: Connection) -> None:
        connection.execute(insert(CUSTOMER_EVENTS), rows)

    await services.database.transaction(write)


async def rows_of(services: Services, customer_id: str, workspace_id: str = "acme") -> dict:
    """How many rows of each table hold this customer of this workspace."""
    ours = select(JOURNEYS.c.id).where(JOURNEYS.c.workspace_id == workspace_id)

    def count(connection: Connection) -> dict[str, int]:
        def n(table: Any, *where: Any) -> int:
            found = connection.execute(select(func.count()).select_from(table).where(*where))
            return int(found.scalar_one())

        return {
            "customers": n(
                CUSTOMERS, CUSTOMERS.c.workspace_id == workspace_id, CUSTOMERS.c.id == customer_id
            ),
            "customer_events": n(
                CUSTOMER_EVENTS,
                CUSTOMER_EVENTS.c.workspace_id == workspace_id,
                CUSTOMER_EVENTS.c.customer_id == customer_id,
            ),
            "audience_members": n(AUDIENCE_MEMBERS, AUDIENCE_MEMBERS.c.customer_id == customer_id),
            "enrollments": n(
                ENROLLMENTS,
                ENROLLMENTS.c.customer_id == customer_id,
                ENROLLMENTS.c.journey_id.in_(ours),
            ),
            "deliveries": n(
                DELIVERIES,
                DELIVERIES.c.customer_id == customer_id,
                DELIVERIES.c.journey_id.in_(ours),
            ),
        }

    return await services.database.read(count)


async def profile_ids(services: Services, workspace_id: str = "acme") -> list[str]:
    def ids(connection: Connection) -> list[str]:
        found = connection.execute(
            select(CUSTOMERS.c.id)
            .where(CUSTOMERS.c.workspace_id == workspace_id)
            .order_by(CUSTOMERS.c.id)
        )
        return list(found.scalars())

    return await services.database.read(ids)


# -- upserts ---------------------------------------------------------------------------


async def test_an_upsert_sets_removes_with_null_and_keeps_the_rest(
    services: Services, callers: Callers, clock: ManualClock
):
    first = await services.customers.upsert(
        callers.editor, [change("ann", plan="free", age=31, vip=False)]
    )
    assert (first.created, first.updated, first.rejected) == (1, 0, [])
    clock.advance(seconds=60)

    second = await services.customers.upsert(
        callers.editor, [change("ann", plan="pro", vip=None, city="Lyon")]
    )
    assert (second.created, second.updated, second.rejected) == (0, 1, [])
    found = await services.customers.customer(callers.viewer, "ann")
    assert found is not None
    assert found.attributes == {"plan": "pro", "age": 31, "city": "Lyon"}
    assert (found.created_at, found.updated_at) == (T0, T0 + timedelta(seconds=60))


async def test_counts_are_of_profiles_and_one_id_twice_merges_in_order(
    services: Services, callers: Callers
):
    await services.customers.upsert(callers.editor, [change("ann", plan="free")])

    result = await services.customers.upsert(
        callers.editor,
        [
            change("bob", plan="free", score=1),
            change("ann", plan="pro"),
            change("bob", plan="pro", score=None, city="Oslo"),
            change("cy"),
            change("ann", plan="team"),
        ],
    )
    assert (result.created, result.updated, result.rejected) == (2, 1, [])
    assert await attributes(services, callers, "ann") == {"plan": "team"}
    assert await attributes(services, callers, "bob") == {"plan": "pro", "city": "Oslo"}
    assert await attributes(services, callers, "cy") == {}


async def test_a_profile_made_meanwhile_is_merged_into_not_overwritten(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    """Another transaction creates a profile between the batch's read and its write
    (here, in the same transaction, right after the read): the upsert's conflict
    leaves it as it is, and the change is merged into it in a second round."""
    read = customer_store.profiles_for_update
    reads = []

    def read_then_someone_creates(connection: Connection, *args: Any) -> Any:
        found = read(connection, *args)
        if not reads:
            connection.execute(
                insert(CUSTOMERS).values(
                    workspace_id="acme",
                    id="ann",
                    attributes={"source": "import", "plan": "free"},
                    created_at=T0,
                    updated_at=T0,
                )
            )
        reads.append(sorted(found))
        return found

    monkeypatch.setattr(customer_store, "profiles_for_update", read_then_someone_creates)
    result = await services.customers.upsert(
        callers.editor, [change("ann", plan="pro"), change("bob", plan="pro")]
    )
    assert reads == [[], ["ann"]]
    assert (result.created, result.updated, result.rejected) == (1, 1, [])
    assert await attributes(services, callers, "ann") == {"source": "import", "plan": "pro"}
    assert await attributes(services, callers, "bob") == {"plan": "pro"}


async def test_profiles_made_meanwhile_round_after_round_refuse_the_call_and_write_nothing(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    """Were profiles created by others between each read and write, round after round,
    the call stops with a code saying to send it again, and writes nothing."""

    def read_nothing_ever(connection: Connection, *args: Any) -> Any:
        return {}

    monkeypatch.setattr(customer_store, "profiles_for_update", read_nothing_ever)
    await services.customers.upsert(callers.editor, [change("ann", plan="free")])
    with pytest.raises(ConcurrentChange, match=r"'ann'.*send the call again"):
        await services.customers.upsert(
            callers.editor, [change("ann", plan="pro"), change("bob", plan="pro")]
        )
    monkeypatch.undo()
    assert await attributes(services, callers, "ann") == {"plan": "free"}
    assert await services.customers.customer(callers.editor, "bob") is None


BAD_ATTRIBUTES = [
    pytest.param({"first name": "Ann"}, "not a name", id="a name with a space"),
    pytest.param({"a" * 65: 1}, "not a name", id="a 65-character name"),
    pytest.param({f"k{i}": i for i in range(101)}, "at most 100 keys", id="101 keys"),
    pytest.param({"bio": "x" * 1001}, "at most 1000 characters", id="a 1,001-character value"),
    pytest.param({"address": {"city": "Lyon"}}, "not an object", id="an object value"),
    pytest.param({"tags": ["a", "b"]}, "not an object or a list", id="a list value"),
    pytest.param(["plan", "pro"], "must be a JSON object", id="not an object"),
]


@pytest.mark.parametrize(("bad", "said"), BAD_ATTRIBUTES)
async def test_each_bad_change_is_refused_alone_and_writes_nothing(
    services: Services, callers: Callers, bad: Any, said: str
):
    await services.customers.upsert(callers.editor, [change("ann", plan="free")])

    result = await services.customers.upsert(
        callers.editor,
        [
            change("bob", plan="pro"),
            ProfileChange("ann", bad),
            ProfileChange("cy", bad),
            change("dee", plan="team"),
        ],
    )
    assert (result.created, result.updated) == (2, 0)
    assert [(r.customer_id, r.reason) for r in result.rejected] == [
        ("ann", ProfileRefusal.INVALID_ATTRIBUTES),
        ("cy", ProfileRefusal.INVALID_ATTRIBUTES),
    ]
    assert said in result.rejected[0].message
    assert await attributes(services, callers, "ann") == {"plan": "free"}
    assert await attributes(services, callers, "cy") is None
    assert await attributes(services, callers, "bob") == {"plan": "pro"}
    assert await attributes(services, callers, "dee") == {"plan": "team"}


@pytest.mark.parametrize("bad_id", ["", " ann", "x" * 201, "bad\x00id", "a\u200bb"])
async def test_an_invalid_id_is_refused_alone(services: Services, callers: Callers, bad_id: str):
    result = await services.customers.upsert(
        callers.editor, [ProfileChange(bad_id, {"plan": "pro"}), change("bob", plan="pro")]
    )
    assert result.created == 1
    [rejected] = result.rejected
    assert (rejected.customer_id, rejected.reason) == (bad_id, ProfileRefusal.INVALID_ID)
    assert "customer id" in rejected.message
    assert await profile_ids(services) == ["bob"]


async def test_a_change_that_would_leave_over_100_attributes_is_refused(
    services: Services, callers: Callers
):
    sixty = {f"a{i}": i for i in range(60)}
    await services.customers.upsert(callers.editor, [ProfileChange("ann", sixty)])
    forty_one = {f"b{i}": i for i in range(41)}

    result = await services.customers.upsert(
        callers.editor,
        [
            ProfileChange("ann", forty_one),  # 101 after the merge: refused
            ProfileChange("ann", {"a0": None, **{f"b{i}": i for i in range(40)}}),  # 99: fine
        ],
    )
    assert (result.created, result.updated) == (0, 1)
    [rejected] = result.rejected
    assert (rejected.customer_id, rejected.reason) == ("ann", ProfileRefusal.INVALID_ATTRIBUTES)
    assert "at most 100 attributes" in rejected.message
    found = await attributes(services, callers, "ann")
    assert len(found) == 99 and "a0" not in found and "b40" not in found


async def test_a_call_of_over_1000_changes_is_refused_whole(services: Services, callers: Callers):
    changes = [change(f"c{i}", n=i) for i in range(MAX_UPSERT_BATCH + 1)]
    with pytest.raises(ValidationFailed, match="at most 1000"):
        await services.customers.upsert(callers.editor, changes)
    assert await attributes(services, callers, "c0") is None

    done = await services.customers.upsert(callers.editor, changes[:MAX_UPSERT_BATCH])
    assert done.created == MAX_UPSERT_BATCH


async def test_who_may_write_read_and_erase(services: Services, callers: Callers):
    with pytest.raises(Forbidden):
        await services.customers.upsert(callers.viewer, [change("ann", plan="pro")])
    assert await attributes(services, callers, "ann") is None
    await services.customers.upsert(callers.admin, [change("ann", plan="pro")])
    assert await attributes(services, callers, "ann") == {"plan": "pro"}  # a viewer reads
    with pytest.raises(Forbidden):
        await services.customers.erase(callers.editor, "ann")
    with pytest.raises(Forbidden):
        await services.customers.erase(callers.viewer, "ann")
    assert await attributes(services, callers, "ann") == {"plan": "pro"}


async def test_workspaces_never_see_each_others_customers(services: Services, callers: Callers):
    await services.customers.upsert(callers.editor, [change("ann", plan="pro")])
    other = await services.customers.upsert(callers.outsider, [change("ann", plan="free")])
    assert other.created == 1  # a profile of its own, not an update of acme's
    await add_events(services, "other", "ann", "signup")

    assert await attributes(services, callers, "ann") == {"plan": "pro"}
    assert await services.customers.events(callers.viewer, "ann", 20) == []
    assert await services.customers.customer(callers.outsider, "nobody") is None

    erased = await services.customers.erase(callers.outsider, "ann")
    assert erased.existed
    assert await attributes(services, callers, "ann") == {"plan": "pro"}
    assert (await services.customers.customer(callers.outsider, "ann")) is None


# -- reading a customer ------------------------------------------------------------------


async def test_a_customer_shows_its_journeys_and_latest_events(
    services: Services, callers: Callers, clock: ManualClock
):
    first = await running(services, callers, OFFER)
    await services.entry.enroll(callers.editor, first.id, ["ann"])
    await services.processing.run_all()  # ann completes `first`
    clock.advance(seconds=10)
    second = await running(services, callers, WAIT, OFFER)
    await services.entry.enroll(callers.editor, second.id, ["ann"])
    await add_events(services, "acme", "ann", "signup", "purchase", "refund")

    journeys = await services.customers.journeys(callers.viewer, "ann")
    assert [(j.journey_id, j.state, j.step_index) for j in journeys] == [
        (second.id, "INSIDE", 0),
        (first.id, "COMPLETED", 1),
    ]
    assert journeys[0].entered_at == T0 + timedelta(seconds=10)
    events = await services.customers.events(callers.viewer, "ann", 2)
    assert events == [
        CustomerEvent("refund", {"n": 2}, T0 + timedelta(minutes=2)),
        CustomerEvent("purchase", {"n": 1}, T0 + timedelta(minutes=1)),
    ]
    assert await services.customers.events(callers.viewer, "ann", 0) == []
    with pytest.raises(ValidationFailed):
        await services.customers.events(callers.viewer, "ann", 101)


async def test_an_enrollment_makes_a_missing_profile_and_keeps_an_existing_one(
    services: Services, callers: Callers
):
    journey = await running(services, callers, WAIT, OFFER)
    await services.customers.upsert(callers.editor, [change("ann", plan="pro")])

    await services.entry.enroll(callers.editor, journey.id, ["ann", "bob", "bad\x00id"])
    assert await attributes(services, callers, "ann") == {"plan": "pro"}
    assert await attributes(services, callers, "bob") == {}
    assert await profile_ids(services) == ["ann", "bob"]
    # Bob's profile is an ordinary one: the next upsert updates it.
    result = await services.customers.upsert(callers.editor, [change("bob", plan="free")])
    assert (result.created, result.updated) == (0, 1)


# -- erasure ---------------------------------------------------------------------------


async def test_an_erasure_leaves_nothing_personal_and_keeps_the_counters(
    services: Services, callers: Callers, clock: ManualClock
):
    # `held`: a recall window keeps ann's (and bob's) offer queued; both wait inside.
    held = await running(services, callers, OFFER, WAIT, send_delay_seconds=300)
    # `retrying`: no webhook endpoint, so ann's ping fails and waits for a retry,
    # handed over; she waits inside.
    retrying = await running(services, callers, PING, WAIT, trigger="ping")
    # `done`: ann walked it to the end; her message was delivered.
    done = await running(services, callers, OFFER, trigger="done")
    for journey in (held, retrying, done):
        await services.entry.enroll(callers.editor, journey.id, ["ann", "bob"])
    await services.processing.run_all()
    await services.commands.create(
        callers.editor,
        name="Segment",
        kind=JourneyKind.SEGMENT_SCHEDULED,
        content=Content(steps=(OFFER,)),
        audience_ids=["bob", "ann", "cy"],
    )
    await services.customers.upsert(callers.editor, [change("ann", email="ann@example.com")])
    await services.customers.upsert(callers.outsider, [change("ann", plan="free")])
    await add_events(services, "acme", "ann", "signup", "purchase")
    await add_events(services, "acme", "bob", "signup")
    before = {j.id: await counters(services, j) for j in (held, retrying, done)}
    assert (before[held.id].queued, before[held.id].inside) == (2, 2)
    assert (before[retrying.id].handed_over, before[retrying.id].inside) == (2, 2)
    assert (before[done.id].delivered, before[done.id].completed) == (2, 2)
    bob_before = await rows_of(services, "bob")

    erased = await services.customers.erase(callers.admin, "ann")

    assert (erased.customer_id, erased.existed) == ("ann", True)
    assert (erased.journeys_exited, erased.messages_cancelled) == (2, 1)
    assert await rows_of(services, "ann") == {
        "customers": 0,
        "customer_events": 0,
        "audience_members": 0,
        "enrollments": 0,
        "deliveries": 0,
    }
    assert await rows_of(services, "bob") == bob_before
    assert await services.customers.customer(callers.outsider, "ann") is not None
    after = {j.id: await counters(services, j) for j in (held, retrying, done)}
    assert after[held.id] == replace(before[held.id], inside=1, exited=1, queued=1, cancelled=1)
    assert after[retrying.id] == replace(
        before[retrying.id], inside=1, exited=1, handed_over=1, failed=1
    )
    assert after[done.id] == before[done.id]
    assert await services.customers.journeys(callers.viewer, "ann") == []

    # Nothing of ann's goes out after: bob's offer and retry do, and the counters
    # stay exact.
    clock.advance(seconds=3600)
    await services.processing.run_all()
    assert (await counters(services, held)).queued == 0
    assert (await counters(services, held)).delivered == 1
    assert (await counters(services, retrying)).handed_over + (
        await counters(services, retrying)
    ).failed == 2
    assert await rows_of(services, "ann") == {
        "customers": 0,
        "customer_events": 0,
        "audience_members": 0,
        "enrollments": 0,
        "deliveries": 0,
    }

    again = await services.customers.erase(callers.admin, "ann")
    assert (again.existed, again.journeys_exited, again.messages_cancelled) == (False, 0, 0)


async def test_an_erasure_in_an_aborted_journey_does_not_count_twice(
    services: Services, callers: Callers
):
    journey = await running(services, callers, OFFER, WAIT, send_delay_seconds=300)
    await services.entry.enroll(callers.editor, journey.id, ["ann", "bob"])
    await services.processing.run_all()
    await services.commands.take(callers.editor, journey.id, Action.ABORT)
    aborted = await counters(services, journey)  # the rows are not settled yet
    assert (aborted.exited, aborted.cancelled, aborted.inside, aborted.queued) == (2, 2, 0, 0)

    erased = await services.customers.erase(callers.admin, "ann")
    assert (erased.existed, erased.journeys_exited, erased.messages_cancelled) == (True, 0, 0)
    assert await counters(services, journey) == aborted
    assert (await rows_of(services, "ann"))["enrollments"] == 0

    await services.processing.run_all()  # settles bob's rows
    assert await counters(services, journey) == aborted


async def test_an_erasure_refuses_an_invalid_id(services: Services, callers: Callers):
    with pytest.raises(ValidationFailed, match="customer id"):
        await services.customers.erase(callers.admin, "")
