"""Migration 0002 (token expiry, log retention) on a database that already has rows."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from store.database import sync_url
from store.migrate import alembic_config


def test_0002_keeps_existing_rows_and_gives_them_defaults(empty_database_url: str):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0001")
    engine = create_engine(sync_url(empty_database_url))
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO workspaces (id, last_sequence, created_at) "
                    "VALUES ('acme', 7, '2030-01-01 09:00:00+00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO api_tokens (id, workspace_id, name, role, token_hash, created_at) "
                    "VALUES ('t1', 'acme', 'alice', 'editor', 'h1', '2030-01-01 09:00:00+00')"
                )
            )
        command.upgrade(config, "head")
        with engine.connect() as connection:
            workspace = connection.execute(
                text("SELECT last_sequence, pruned_through FROM workspaces")
            ).one()
            token = connection.execute(text("SELECT name, expires_at FROM api_tokens")).one()
        assert tuple(workspace) == (7, 0)
        assert tuple(token) == ("alice", None)

        command.downgrade(config, "0001")
        columns = {c["name"] for c in inspect(engine).get_columns("workspaces")}
        assert "pruned_through" not in columns
        command.upgrade(config, "head")
        command.check(config)
    finally:
        engine.dispose()
