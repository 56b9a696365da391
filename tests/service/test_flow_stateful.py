"""A stateful property test of the flow engine (SQLite and PostgreSQL): random valid flows,
walked by customers who sign up, buy, reach the goal and change plan, while the clock
moves, the journey pauses and resumes and REACTIVATE changes its waits. After every
step: each customer's messages are SEND nodes along one path of the flow from the entry,
never twice for a node and entry, and every counter equals the rows it counts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.actions import Action, Role
from domain.conditions import AttributeCondition, ConditionOp
from domain.content import Content, JourneyKind
from domain.errors import DomainError
from domain.flow import Flow, Node, NodeType, SplitBranch
from service.clock import ManualClock
from service.customers import ProfileChange
from service.entry import TrackedEvent
from service.services import Services
from service.settings import Settings
from tests.conftest import T0, TABLES

CUSTOMERS = ("ann", "bob", "cy", "dee")
VIP = AttributeCondition("plan", ConditionOp.EQUALS, "vip")
BIG = (AttributeCondition("amount", ConditionOp.AT_LEAST, 10),)
KINDS = (NodeType.WAIT, NodeType.SEND, NodeType.WAIT_FOR_EVENT, NodeType.CONDITION, NodeType.SPLIT)


@st.composite
def flows(draw: Any) -> tuple[Node, ...]:
    """A valid flow of 1 to 6 nodes: each node's first way out is the next node (so every
    node is reachable), its others a later node or the end; an EXIT only last."""
    size = draw(st.integers(1, 6))
    keys = [f"n{i}" for i in range(size)]
    nodes = []
    for i, key in enumerate(keys):
        last = i == size - 1
        following = None if last else keys[i + 1]
        later = st.sampled_from([None, *keys[i + 1 :]])
        kind = draw(st.sampled_from((*KINDS, NodeType.EXIT) if last else KINDS))
        if kind is NodeType.WAIT:
            node = Node(key, kind, next=following, seconds=draw(st.sampled_from((60, 3600))))
        elif kind is NodeType.SEND:
            node = Node(key, kind, next=following, channel="log", template=key)
        elif kind is NodeType.WAIT_FOR_EVENT:
            node = Node(
                key, kind, event="buy", where=draw(st.sampled_from(((), BIG))),
                timeout_seconds=draw(st.sampled_from((60, 3600))),
                next=following, on_timeout=draw(later),
            )  # fmt: skip
        elif kind is NodeType.CONDITION:
            node = Node(key, kind, condition=VIP, yes=following, no=draw(later))
        elif kind is NodeType.SPLIT:
            node = Node(
                key, kind,
                branches=(SplitBranch("a", 50, following), SplitBranch("b", 50, draw(later))),
            )  # fmt: skip
        else:
            node = Node(key, kind)
        nodes.append(node)
    return tuple(nodes)


def longer_waits(nodes: tuple[Node, ...], factor: int) -> tuple[Node, ...]:
    """The same flow with every wait `factor` times as long (or shorter, for 0: a minute)."""
    changed = []
    for node in nodes:
        if node.type is NodeType.WAIT:
            node = Node(node.key, node.type, next=node.next, seconds=max(60, node.seconds * factor))
        elif node.type is NodeType.WAIT_FOR_EVENT:
            node = Node(
                node.key, node.type, event=node.event, where=node.where, next=node.next,
                on_timeout=node.on_timeout, timeout_seconds=max(60, node.timeout_seconds * factor),
            )  # fmt: skip
        changed.append(node)
    return tuple(changed)


def reachable(flow: Flow, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        node = flow.node(key)
        targets = [node.next, node.yes, node.no, node.on_timeout, *(b.next for b in node.branches)]
        todo += [t for t in targets if t is not None]
    return seen


class FlowMachine(RuleBasedStateMachine):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock(T0)
        self.services = Services.embedded(Settings(database_url=url), clock=self.clock)
        self.editor = self.run(self._editor())

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    async def _editor(self) -> Any:
        token = await self.services.tokens.create("acme", Role.EDITOR, "eddie")
        return await self.services.tokens.authenticate(f"Bearer {token}")

    def teardown(self) -> None:
        self.run(self.services.close())
        self.loop.close()

    @initialize(nodes=flows(), goal=st.booleans())
    def start(self, nodes: tuple[Node, ...], goal: bool) -> None:
        self.nodes = nodes
        content = Content(nodes=nodes, trigger_event="signup", goal_event="quit" if goal else None)
        journey = self.run(
            self.services.commands.create(
                self.editor, name="Flow", kind=JourneyKind.EVENT_TRIGGERED, content=content
            )
        )
        self.journey_id = self.run(
            self.services.commands.take(self.editor, journey.id, Action.ACTIVATE)
        ).id

    def track(self, *events: TrackedEvent) -> None:
        self.run(self.services.entry.track(self.editor, list(events)))

    def take(self, action: Action) -> None:
        # Not allowed from this status: refused, and nothing changed.
        with contextlib.suppress(DomainError):
            self.run(self.services.commands.take(self.editor, self.journey_id, action))

    @rule(customer=st.sampled_from(CUSTOMERS))
    def sign_up(self, customer: str) -> None:
        self.track(TrackedEvent("signup", customer))

    @rule(customer=st.sampled_from(CUSTOMERS), amount=st.sampled_from((5, 20)))
    def buy(self, customer: str, amount: int) -> None:
        self.track(TrackedEvent("buy", customer, {"amount": amount}))

    @rule(customer=st.sampled_from(CUSTOMERS))
    def quit(self, customer: str) -> None:
        self.track(TrackedEvent("quit", customer))

    @rule(customer=st.sampled_from(CUSTOMERS), plan=st.sampled_from(("vip", "free")))
    def change_plan(self, customer: str, plan: str) -> None:
        self.run(
            self.services.customers.upsert(self.editor, [ProfileChange(customer, {"plan": plan})])
        )

    @rule(seconds=st.sampled_from((1, 30, 600, 3600)))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)
        self.run(self.services.processing.run_all())

    @rule()
    def process(self) -> None:
        self.run(self.services.processing.run_all())

    @rule()
    def pause(self) -> None:
        self.take(Action.PAUSE)

    @rule()
    def resume(self) -> None:
        self.take(Action.RESUME)

    @rule(factor=st.sampled_from((0, 3)))
    def reactivate_with_other_waits(self, factor: int) -> None:
        self.take(Action.PAUSE)
        self.nodes = longer_waits(self.nodes, factor)
        self.run(self.services.commands.update(self.editor, self.journey_id, {"nodes": self.nodes}))
        self.take(Action.REACTIVATE)

    def rows(self, sql: str) -> list[Any]:
        return self.run(
            self.services.database.read(
                lambda connection: connection.execute(sa.text(sql), {"j": self.journey_id}).all()
            )
        )

    @invariant()
    def messages_follow_one_path_once(self) -> None:
        if not hasattr(self, "journey_id"):
            return
        flow = Flow(self.nodes)
        sent: dict[int, list[str]] = {}
        for enrollment, key in self.rows(
            "SELECT enrollment_id, node_key FROM deliveries WHERE journey_id = :j ORDER BY id"
        ):
            sent.setdefault(enrollment, []).append(key)
        for keys in sent.values():
            assert len(keys) == len(set(keys)), f"a node's message twice: {keys}"
            assert all(flow.node(k).type is NodeType.SEND for k in keys)
            assert keys[0] in reachable(flow, flow.entry.key)
            for before, after in itertools.pairwise(keys):
                assert after in reachable(flow, before), f"not one path: {keys}"

    @invariant()
    def counters_equal_rows(self) -> None:
        if not hasattr(self, "journey_id"):
            return
        states = Counter(
            state for (state,) in self.rows("SELECT state FROM enrollments WHERE journey_id = :j")
        )
        stats = self.run(self.services.reads.counters([self.journey_id]))[self.journey_id]
        assert (stats.entered, stats.inside, stats.completed, stats.converted, stats.exited) == (
            sum(states.values()), states["INSIDE"], states["COMPLETED"], states["CONVERTED"],
            states["EXITED"],
        )  # fmt: skip
        places = self.rows("SELECT node_key, state FROM enrollments WHERE journey_id = :j")
        at = Counter(key for key, state in places if state == "INSIDE" and key is not None)
        counts = self.run(self.services.reads.node_counts([self.journey_id]))[self.journey_id]
        assert {k: c.at for k, c in counts.items() if c.at} == dict(at)
        for key, count in counts.items():
            assert sum(count.branches.values()) <= count.reached - count.at, key
        deliveries = Counter(
            s for (s,) in self.rows("SELECT state FROM deliveries WHERE journey_id = :j")
        )
        assert stats.delivered == deliveries["DELIVERED"]


RUNS = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A function that gives each example an empty migrated database."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")

        def sqlite() -> str:
            path = tmp_path / f"flow-{len(list(tmp_path.iterdir()))}.db"
            shutil.copy(template, path)
            return f"sqlite:///{path}"

        return sqlite
    url: str = request.getfixturevalue("postgres_schema_url")

    def postgresql() -> str:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        return url

    return postgresql


def test_the_flow_engine_keeps_its_promises(fresh_database: Any) -> None:
    FlowMachine.TestCase.settings = RUNS
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(lambda: FlowMachine(fresh_database()), settings=RUNS)
