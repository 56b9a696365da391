"""Migration 0011 (a version's flow as nodes) on a database whose versions hold steps."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import create_engine, text

from store.database import sync_url
from store.migrate import alembic_config
from tests.store.migration_rows import AT, workspace_and_journey

STEPS = {
    1: [
        {"type": "SEND", "channel": "log", "template": "welcome"},
        {"type": "WAIT", "seconds": 86400},
        {"type": "SEND", "channel": "webhook", "template": "tips"},
    ],
    2: [{"type": "WAIT"}],  # a draft's incomplete step stays incomplete
    3: [],  # a draft with no steps yet
}


def test_0011_turns_each_versions_steps_into_a_straight_line_of_nodes(empty_database_url: str):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0010")
    engine = create_engine(sync_url(empty_database_url))
    try:
        with engine.begin() as connection:
            workspace_and_journey(connection, status="DESIGNING", latest_version=len(STEPS))
            for number, steps in STEPS.items():
                connection.execute(
                    text(
                        "INSERT INTO journey_versions (journey_id, number, steps, created_at, "
                        f"created_by) VALUES ('j1', :number, :steps, {AT}, 'eddie')"
                    ),
                    {"number": number, "steps": json.dumps(steps)},
                )

        command.upgrade(config, "0011")
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT number, nodes, steps FROM journey_versions ORDER BY number")
            ).all()
        nodes = {row.number: _json(row.nodes) for row in rows}
        assert nodes[1] == [
            {"key": "1", "type": "SEND", "next": "2", "channel": "log", "template": "welcome"},
            {"key": "2", "type": "WAIT", "next": "3", "seconds": 86400},
            {"key": "3", "type": "SEND", "channel": "webhook", "template": "tips"},
        ]
        assert nodes[2] == [{"key": "1", "type": "WAIT"}]
        assert nodes[3] == []
        # The steps stay, for the step processor.
        assert {row.number: _json(row.steps) for row in rows} == STEPS

        command.downgrade(config, "0010")
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT count(*) FROM journey_versions")).scalar_one()
        assert kept == len(STEPS)
        command.upgrade(config, "head")
        command.check(config)
    finally:
        engine.dispose()


def _json(value: object) -> object:
    # SQLite hands JSON back as text.
    return json.loads(value) if isinstance(value, str) else value
