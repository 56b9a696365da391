"""The step processor walks a flow of nodes by key (SQLite and PostgreSQL): a CONDITION
reads profiles, a SPLIT its buckets, an EXIT ends the walk, a SEND after a branch
queues one message per customer, and a node applied again never sends twice."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from domain.conditions import AttributeCondition, ConditionOp
from domain.flow import Node, NodeType, SplitBranch
from domain.flow_walk import split_bucket
from domain.journey import Journey
from service.customers import ProfileChange
from service.services import Services
from tests.conftest import Callers
from tests.service.flows import running, send

pytestmark = pytest.mark.anyio


async def messages(services: Services, journey: Journey) -> Counter[tuple[str, str]]:
    """(customer, node key) of every message the journey queued, counted."""
    found = await services.database.read(
        lambda connection: connection.execute(
            sa.text("SELECT customer_id, node_key FROM deliveries WHERE journey_id = :j"),
            {"j": journey.id},
        ).all()
    )
    return Counter((row[0], row[1]) for row in found)


async def places(services: Services, journey: Journey) -> dict[str, tuple[str, str]]:
    """customer: (node key, state)."""
    found = await services.database.read(
        lambda connection: connection.execute(
            sa.text("SELECT customer_id, node_key, state FROM enrollments WHERE journey_id = :j"),
            {"j": journey.id},
        ).all()
    )
    return {row[0]: (row[1], row[2]) for row in found}


VIP = AttributeCondition("plan", ConditionOp.EQUALS, "vip")


async def test_a_condition_sends_who_meets_it_to_yes_and_the_others_to_no(
    services: Services, callers: Callers
):
    await services.customers.upsert(
        callers.editor,
        [ProfileChange("ann", {"plan": "vip"}), ProfileChange("bob", {"plan": "free"})],
    )
    journey = await running(
        services,
        callers,
        Node("vip", NodeType.CONDITION, condition=VIP, yes="gift", no="bye"),
        send("gift", "gift", next="thanks"),
        Node("bye", NodeType.EXIT),
        send("thanks", "thanks"),
    )
    # cy has no attributes (a profile made by the enrollment): no plan, so "no".
    await services.entry.enroll(callers.editor, journey.id, ["ann", "bob", "cy"])
    await services.processing.run_all()

    assert await messages(services, journey) == Counter({("ann", "gift"): 1, ("ann", "thanks"): 1})
    assert await places(services, journey) == {
        "ann": ("thanks", "COMPLETED"),
        "bob": ("bye", "COMPLETED"),  # an EXIT completes
        "cy": ("bye", "COMPLETED"),
    }
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.entered, stats.inside, stats.completed, stats.delivered) == (3, 0, 3, 2)


async def test_a_split_gives_each_branch_exactly_the_customers_its_buckets_say(
    services: Services, callers: Callers
):
    journey = await running(
        services,
        callers,
        Node(
            "ab",
            NodeType.SPLIT,
            branches=(SplitBranch("a", 50, "offer-a"), SplitBranch("b", 50, "wait-b")),
        ),
        send("offer-a", "a"),
        Node("wait-b", NodeType.WAIT, seconds=3600, next="offer-b"),
        send("offer-b", "b"),
    )
    customers = [f"c{n}" for n in range(1000)]
    await services.entry.enroll(callers.editor, journey.id, customers)
    await services.processing.run_all()

    expected_a = {c for c in customers if split_bucket(journey.id, c, "ab") < 50}
    found = await places(services, journey)
    assert {c for c, place in found.items() if place == ("offer-a", "COMPLETED")} == expected_a
    assert {c for c, place in found.items() if place == ("wait-b", "INSIDE")} == (
        set(customers) - expected_a
    )
    assert 400 < len(expected_a) < 600  # a fair draw, as the hash spreads evenly
    assert await messages(services, journey) == Counter((c, "offer-a") for c in expected_a)


async def test_a_send_after_a_branch_queues_one_message_per_customer_and_never_twice(
    services: Services, callers: Callers
):
    await services.customers.upsert(
        callers.editor,
        [ProfileChange(f"c{n}", {"plan": "vip" if n % 3 else "free"}) for n in range(30)],
    )
    journey = await running(
        services,
        callers,
        Node("vip", NodeType.CONDITION, condition=VIP, yes="hello", no="hello"),
        send("hello", "hello"),
    )
    await services.entry.enroll(callers.editor, journey.id, [f"c{n}" for n in range(30)])
    await services.processing.run_all()
    assert await messages(services, journey) == Counter((f"c{n}", "hello") for n in range(30))

    # The same node applied again to the same entries (as a retry of a batch whose
    # commit was not seen would): the unique key keeps one message per node and entry.
    await services.database.transaction(
        lambda connection: connection.execute(
            sa.text(
                "UPDATE enrollments SET node_key = 'hello', state = 'INSIDE', due_at = "
                "reached_at WHERE journey_id = :j"
            ),
            {"j": journey.id},
        )
    )
    await services.processing.run_all()
    assert await messages(services, journey) == Counter((f"c{n}", "hello") for n in range(30))
    assert {place for place in (await places(services, journey)).values()} == {
        ("hello", "COMPLETED")
    }
