"""The migrations, run from an empty database, build exactly the tables the models
describe; each one's downgrade undoes it exactly; and several processes
migrating one PostgreSQL database at once leave it migrated once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import SQLModel

import store.tables  # noqa: F401  (registers the tables on the metadata)
from store.database import sync_url
from store.migrate import alembic_config, upgrade
from tests.conftest import fresh_postgres_schema

PROCESSES = 6
Schema = dict[str, dict[str, Any]]


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def schema_of(engine: Engine) -> Schema:
    """Every table's columns, keys, indexes and constraints, as the database reports them
    (Alembic's own bookkeeping table aside)."""
    inspector = inspect(engine)
    schema: Schema = {}
    for table in set(inspector.get_table_names()) - {"alembic_version"}:
        schema[table] = {
            "columns": {
                c["name"]: (str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            },
            "primary key": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
            "foreign keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
    return schema


def differences(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models, comparing
    server defaults too (which `alembic check` leaves out)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def revisions_in_order(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_migrations_from_nothing_build_exactly_the_models_tables(empty_database_url: str):
    config = alembic_config(empty_database_url)
    with engine_for(empty_database_url) as engine:
        assert inspect(engine).get_table_names() == []
        command.upgrade(config, "head")

        assert current_revision(engine) == revisions_in_order(empty_database_url)[-1]
        tables = set(inspect(engine).get_table_names())
        assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}
        assert differences(engine) == []
        command.check(config)  # the same question, as `alembic check` asks it

        built = schema_of(engine)
        command.upgrade(config, "head")  # again: nothing left to do
        assert schema_of(engine) == built


def test_each_downgrade_undoes_its_upgrade_exactly(empty_database_url: str):
    """Up one revision at a time, recording the schema after each; then down one at a
    time, each step back to the schema recorded before that revision; then up again."""
    config = alembic_config(empty_database_url)
    revisions = revisions_in_order(empty_database_url)
    assert revisions
    with engine_for(empty_database_url) as engine:
        before: dict[str, Schema] = {}
        for revision in revisions:
            before[revision] = schema_of(engine)
            command.upgrade(config, revision)
            assert current_revision(engine) == revision
        at_head = schema_of(engine)

        for revision in reversed(revisions):
            command.downgrade(config, "-1")
            assert schema_of(engine) == before[revision], f"downgrading {revision}"
        assert current_revision(engine) is None
        assert before[revisions[0]] == {}

        command.upgrade(config, "head")
        assert schema_of(engine) == at_head
        assert differences(engine) == []


def _migrate_on_cue(url: str, cue: Any) -> None:
    cue.wait(timeout=30)  # every process ready: they all begin at once
    upgrade(url)


def test_processes_migrating_one_postgres_database_at_once_all_succeed() -> None:
    """`journeys serve` migrates on start, so several processes may do it at once
    (PostgreSQL only: SQLite has one writer anyway)."""
    with fresh_postgres_schema("journeys_mig") as url:
        spawn = multiprocessing.get_context("spawn")
        cue = spawn.Barrier(PROCESSES)
        migrating = [
            spawn.Process(target=_migrate_on_cue, args=(url, cue)) for _ in range(PROCESSES)
        ]
        for process in migrating:
            process.start()
        for process in migrating:
            process.join(60)
        assert [process.exitcode for process in migrating] == [0] * PROCESSES
        with engine_for(url) as engine:
            with engine.connect() as connection:
                versions = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert [v for (v,) in versions] == [revisions_in_order(url)[-1]]
            assert differences(engine) == []
