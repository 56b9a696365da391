"""schema.graphql is generated; a stale copy fails the suite."""

from __future__ import annotations

from pathlib import Path

from gql.schema import schema


def test_schema_graphql_is_current():
    committed = (Path(__file__).parent.parent / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", "schema.graphql is stale: run `make schema`"
