"""Migration 0013 (goals, re-entry, node counters) on a database where customers are
mid-walk: each node's counters equal its rows, a flow waiting for events says which."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import create_engine, text

from store.database import sync_url
from store.migrate import alembic_config
from tests.store.migration_rows import AT, workspace_and_journey

NODES = [
    {"key": "1", "type": "SEND", "next": "2", "channel": "log", "template": "offer"},
    {"key": "2", "type": "WAIT", "next": "3", "seconds": 60},
    {"key": "3", "type": "SEND", "channel": "log", "template": "thanks"},
]
WAITING = [
    {"key": "w", "type": "WAIT_FOR_EVENT", "event": "purchase", "timeoutSeconds": 60},
]
# (customer, node key, state)
WALKING = [
    ("a", "1", "INSIDE"),
    ("b", "2", "INSIDE"),
    ("c", "2", "INSIDE"),
    ("d", "3", "COMPLETED"),
    ("e", None, "INSIDE"),  # just entered: at no node yet
]


def test_0013_counts_customers_node_by_node(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0012")
    engine = create_engine(sync_url(empty_database_url))
    try:
        with engine.begin() as connection:
            workspace_and_journey(connection, latest_version=2)
            for number, nodes in ((1, NODES), (2, WAITING)):
                connection.execute(
                    text(
                        "INSERT INTO journey_versions (journey_id, number, nodes, steps, "
                        f"audience_size, send_delay_seconds, created_at, created_by) VALUES "
                        f"('j1', :number, :nodes, '[]', 0, 0, {AT}, 'eddie')"
                    ),
                    {"number": number, "nodes": json.dumps(nodes)},
                )
            connection.execute(text("UPDATE journeys SET live_version = 1"))
            for customer, key, state in WALKING:
                connection.execute(
                    text(
                        "INSERT INTO enrollments (journey_id, customer_id, node_key, reached_at, "
                        f"step_index, state, due_at, entered_at, updated_at) VALUES ('j1', "
                        f":customer, :key, {AT}, 0, :state, NULL, {AT}, {AT})"
                    ),
                    {"customer": customer, "key": key, "state": state},
                )
        command.upgrade(config, "0013")
        with engine.connect() as connection:
            counted = connection.execute(
                text("SELECT node_key, branch, at, reached FROM node_counters ORDER BY node_key")
            ).all()
            waits = connection.execute(
                text("SELECT number, wait_events, reentry FROM journey_versions ORDER BY number")
            ).all()
        # Node "2": b and c are at it; it was reached by them and by d, who walked on.
        assert [tuple(row) for row in counted] == [
            ("1", "", 1, 4),
            ("2", "", 2, 3),
            ("3", "", 0, 1),
        ]
        assert [(n, json.loads(w) if isinstance(w, str) else w, r) for n, w, r in waits] == [
            (1, None, "AFTER_EXIT"),
            (2, ["purchase"], "AFTER_EXIT"),
        ]
        command.upgrade(config, "head")
        command.check(config)
        command.downgrade(config, "0012")
        command.upgrade(config, "head")
    finally:
        engine.dispose()
