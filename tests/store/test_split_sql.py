"""A SPLIT's bucket has two readings that agree: `domain.flow_walk.split_bucket` in
Python, and `store.split_sql.split_bucket` in SQL, on SQLite (the domain's function,
registered on every connection the store opens) and on PostgreSQL (its own md5)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import literal, select

from domain.flow_walk import split_bucket
from service.services import Services
from store import split_sql

pytestmark = pytest.mark.anyio

_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


async def test_the_sql_bucket_is_the_python_bucket(services: Services) -> None:
    @settings(
        max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.lists(st.tuples(_text, _text, _text), min_size=1, max_size=20))
    def agree(triples: list[tuple[str, str, str]]) -> None:
        buckets.append(triples)

    buckets: list[list[tuple[str, str, str]]] = []
    agree()  # draws the examples; each is then read by the database below

    def read(connection: object) -> list[list[int]]:
        found = []
        for triples in buckets:
            statement = select(
                *(split_sql.split_bucket(literal(j), literal(c), literal(k)) for j, c, k in triples)
            )
            found.append(list(connection.execute(statement).one()))  # type: ignore[attr-defined]
        return found

    in_sql = await services.database.read(read)
    in_python = [[split_bucket(j, c, k) for j, c, k in triples] for triples in buckets]
    assert in_sql == in_python
    assert all(0 <= bucket < 100 for row in in_sql for bucket in row)
