"""Migration 0007 (delivery public ids) on a database that already has deliveries."""

from __future__ import annotations

import re

from alembic import command
from sqlalchemy import create_engine, inspect, text

from store.database import sync_url
from store.migrate import alembic_config
from tests.store.migration_rows import AT, workspace_and_journey

DELIVERIES = 50


def test_0007_gives_each_existing_delivery_its_own_random_id(empty_database_url: str):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0006")
    engine = create_engine(sync_url(empty_database_url))
    try:
        with engine.begin() as connection:
            workspace_and_journey(connection)
            for n in range(1, DELIVERIES + 1):
                connection.execute(
                    text(
                        "INSERT INTO enrollments (id, journey_id, customer_id, step_index, "
                        f"state, entered_at, updated_at) VALUES ({n}, 'j1', 'c{n}', 1, 'INSIDE', "
                        f"{AT}, {AT})"
                    )
                )
                connection.execute(
                    text(
                        "INSERT INTO deliveries (id, journey_id, enrollment_id, customer_id, "
                        "step_index, channel, template, state, not_before, attempts, created_at, "
                        f"updated_at) VALUES ({n}, 'j1', {n}, 'c{n}', 0, 'webhook', 'offer', "
                        f"'HANDED_OVER', {AT}, 1, {AT}, {AT})"
                    )
                )

        command.upgrade(config, "0007")
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, customer_id, public_id FROM deliveries ORDER BY id")
            ).all()
        assert [(row.id, row.customer_id) for row in rows] == [
            (n, f"c{n}") for n in range(1, DELIVERIES + 1)
        ]
        shown = [str(row.public_id).replace("-", "") for row in rows]
        assert all(re.fullmatch("[0-9a-f]{32}", public_id) for public_id in shown)
        assert len(set(shown)) == DELIVERIES  # one each, none shared
        # No default is left behind: the INSERT that writes a delivery gives its id.
        columns = inspect(engine).get_columns("deliveries")
        [column] = [c for c in columns if c["name"] == "public_id"]
        assert (column["nullable"], column["default"]) == (False, None)

        command.downgrade(config, "0006")
        columns = {c["name"] for c in inspect(engine).get_columns("deliveries")}
        assert "public_id" not in columns
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
        assert kept == DELIVERIES
        command.upgrade(config, "head")
        command.check(config)
    finally:
        engine.dispose()
