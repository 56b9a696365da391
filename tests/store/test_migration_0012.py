"""Migration 0012 (enrollments and deliveries by node key) on a database where customers
are mid-walk; then the step processor walks them on exactly as it did before."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import create_engine

from service.clock import ManualClock
from service.services import Services
from service.settings import Settings
from store.columns import UTCDateTime
from store.database import sync_url
from store.migrate import alembic_config
from tests.conftest import T0

pytestmark = pytest.mark.anyio

STEPS = [
    {"type": "SEND", "channel": "log", "template": "offer"},
    {"type": "WAIT", "seconds": 60},
    {"type": "SEND", "channel": "log", "template": "thanks"},
]
NODES = [
    {"key": "1", "type": "SEND", "next": "2", "channel": "log", "template": "offer"},
    {"key": "2", "type": "WAIT", "next": "3", "seconds": 60},
    {"key": "3", "type": "SEND", "channel": "log", "template": "thanks"},
]
# (customer, step index, state, due at): at the offer, at the wait (the offer sent, the
# wait not begun), waiting after the wait (due when it ends, 30 s from now), completed.
WALKING = [
    ("at-send", 0, "INSIDE", T0),
    ("at-wait", 1, "INSIDE", T0),
    ("after-wait", 2, "INSIDE", T0 + timedelta(seconds=30)),
    ("done", 3, "COMPLETED", None),
]
SENT_OFFER = ("at-wait", "after-wait", "done")

_moment = UTCDateTime()
enrollments = sa.table(
    "enrollments",
    *(sa.column(name) for name in ("id", "journey_id", "customer_id", "step_index", "state")),
    *(sa.column(name, _moment) for name in ("due_at", "entered_at", "updated_at")),
)
deliveries = sa.table(
    "deliveries",
    *(
        sa.column(name)
        for name in (
            "public_id",
            "journey_id",
            "enrollment_id",
            "customer_id",
            "step_index",
            "channel",
            "template",
            "state",
            "attempts",
        )
    ),
    *(sa.column(name, _moment) for name in ("not_before", "created_at", "updated_at")),
)


def _walking(engine: sa.Engine) -> None:
    at = T0 - timedelta(minutes=5)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO workspaces (id, last_sequence, created_at) VALUES ('acme', 0, :at)"
            ),
            {"at": _moment.process_bind_param(at, connection.dialect)},
        )
        stamp = {"at": _moment.process_bind_param(at, connection.dialect)}
        connection.execute(
            sa.text(
                "INSERT INTO journeys (pk, id, workspace_id, name, kind, status, revision, "
                "live_version, latest_version, trigger_event, audience_fully_entered, "
                "created_at, updated_at) VALUES (1, 'j1', 'acme', 'J', 'EVENT_TRIGGERED', "
                "'ACTIVE', 2, 1, 1, 'signup', false, :at, :at)"
            ),
            stamp,
        )
        connection.execute(
            sa.text(
                "INSERT INTO journey_versions (journey_id, number, steps, nodes, created_at, "
                "created_by) VALUES ('j1', 1, :steps, :nodes, :at, 'eddie')"
            ),
            {**stamp, "steps": json.dumps(STEPS), "nodes": json.dumps(NODES)},
        )
        connection.execute(
            sa.text(
                "INSERT INTO journey_stats (journey_id, entered, inside, completed, exited, "
                "queued, handed_over, delivered, failed, cancelled, failures_in_a_row) "
                "VALUES ('j1', 4, 3, 1, 0, 0, 0, 4, 0, 0, 0)"
            )
        )
        ids = {}
        for n, (customer, index, state, due) in enumerate(WALKING, start=1):
            ids[customer] = n
            connection.execute(
                enrollments.insert().values(
                    id=n,
                    journey_id="j1",
                    customer_id=customer,
                    step_index=index,
                    state=state,
                    due_at=due,
                    entered_at=at,
                    updated_at=at,
                )
            )
        # Numbered by the database: the processor's deliveries will follow them.
        sent = [(customer, 0) for customer in SENT_OFFER] + [("done", 2)]
        for n, (customer, index) in enumerate(sent, start=1):
            connection.execute(
                deliveries.insert().values(
                    public_id=f"{n:032x}",
                    journey_id="j1",
                    enrollment_id=ids[customer],
                    customer_id=customer,
                    step_index=index,
                    channel="log",
                    template="offer" if index == 0 else "thanks",
                    state="DELIVERED",
                    attempts=1,
                    not_before=at,
                    created_at=at,
                    updated_at=at,
                )
            )


def _positions(engine: sa.Engine) -> dict[str, tuple[object, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                sa.column("customer_id"),
                sa.column("node_key"),
                sa.column("state"),
                sa.column("reached_at", _moment),
                sa.column("due_at", _moment),
            ).select_from(sa.table("enrollments"))
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def _messages(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT customer_id, node_key, template FROM deliveries")
        ).all()
    return sorted((row[0], row[1], row[2]) for row in rows)


async def test_0012_puts_customers_mid_walk_at_node_keys_and_they_walk_on_as_before(
    empty_database_url: str,
):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0011")
    engine = create_engine(sync_url(empty_database_url))
    try:
        _walking(engine)
        command.upgrade(config, "0012")
        later = T0 + timedelta(seconds=30)
        assert _positions(engine) == {
            # At the offer, due at once, as before.
            "at-send": ("1", "INSIDE", T0, T0),
            # At the wait, reached when the step fell due: due when it ends.
            "at-wait": ("2", "INSIDE", T0, T0 + timedelta(seconds=60)),
            # Past the wait: at the thank-you, reached when the wait ends, due then.
            "after-wait": ("3", "INSIDE", later, later),
            "done": ("3", "COMPLETED", T0 - timedelta(minutes=5), None),
        }
        assert _messages(engine) == [
            ("after-wait", "1", "offer"),
            ("at-wait", "1", "offer"),
            ("done", "1", "offer"),
            ("done", "3", "thanks"),
        ]
        command.upgrade(config, "head")  # the processor of today reads later columns too
        command.check(config)

        clock = ManualClock(T0)
        services = Services.embedded(Settings(database_url=empty_database_url), clock=clock)
        try:
            await services.processing.run_all()  # the offer goes to at-send
            clock.advance(seconds=29)
            await services.processing.run_all()
            assert _messages(engine).count(("at-send", "1", "offer")) == 1
            assert len(_messages(engine)) == 5
            clock.advance(seconds=1)
            await services.processing.run_all()  # after-wait's wait ended: the thank-you
            assert ("after-wait", "3", "thanks") in _messages(engine)
            assert len(_messages(engine)) == 6
            clock.advance(seconds=29)
            await services.processing.run_all()
            assert len(_messages(engine)) == 6
            clock.advance(seconds=1)  # a minute after T0: both waits end
            await services.processing.run_all()
            stats = (await services.reads.counters(["j1"]))["j1"]
        finally:
            await services.close()
        assert _messages(engine) == sorted(
            [(c, "1", "offer") for c in ("at-send", *SENT_OFFER)]
            + [(c, "3", "thanks") for c in ("at-send", "at-wait", "after-wait", "done")]
        )
        assert {c: p[1] for c, p in _positions(engine).items()} == dict.fromkeys(
            ("at-send", "at-wait", "after-wait", "done"), "COMPLETED"
        )
        assert (stats.entered, stats.inside, stats.completed, stats.delivered) == (4, 0, 4, 8)

        command.downgrade(config, "0011")
        with engine.connect() as connection:
            kept = connection.execute(sa.text("SELECT count(*) FROM deliveries")).scalar_one()
        assert kept == 8
        command.upgrade(config, "head")
        command.check(config)
    finally:
        engine.dispose()
