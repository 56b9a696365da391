"""The migrations build exactly the tables the models describe."""

from __future__ import annotations

from alembic import command

from store.migrate import alembic_config


def test_migrations_match_the_models(database_url: str):
    # `alembic check` fails when autogenerate would find anything to change.
    command.check(alembic_config(database_url))


def test_migrating_twice_is_harmless(database_url: str):
    command.upgrade(alembic_config(database_url), "head")
