"""Fuzzing the GraphQL endpoint over real HTTP with hypothesis-graphql: documents
generated from the schema, valid ones (any argument values) and broken ones (a
wrong type, a missing argument, an out-of-range Int, null where null is refused),
plus bodies that are not GraphQL at all.

Whatever comes in: never a 500, never a traceback in the answer, every error with
an `extensions.code`, and a request refused as a whole (errors, no data, no field
run) leaves every table exactly as it was. The budget is `JOURNEYS_FUZZ_EXAMPLES` examples a
test (CI: 500, about 1,250 in all); the nightly run sets it higher (README).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from gql.schema import schema as journeys_schema
from tests.e2e.conftest import LiveServer
from tests.e2e.fuzzing import (
    DATE_TIMES,
    EXAMPLES,
    JSON_VALUES,
    Writes,
    checked,
    refused_as_a_whole,
    start_quiet_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SDL = journeys_schema.as_str()
SCALARS = {"DateTime": DATE_TIMES, "JSON": JSON_VALUES}
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def quiet_server(tmp_path, sqlite_template) -> Iterator[LiveServer]:
    live = start_quiet_server(tmp_path, sqlite_template)
    yield live
    live.stop()


class Fuzzer:
    """Posts bodies to the server over one connection, and watches for writes."""

    def __init__(self, server: LiveServer) -> None:
        self._server = server
        self._client = httpx.Client(base_url=server.base_url, timeout=30)
        self._writes = Writes(server)

    def check(self, body: bytes, as_: str, content_type: str = "application/json") -> None:
        before = self._writes.count()
        answer = self._client.post(
            "/graphql",
            content=body,
            headers={
                "Authorization": f"Bearer {self._server.tokens[as_]}",
                "Content-Type": content_type,
            },
        )
        result = checked(answer.status_code, answer.text)
        if refused_as_a_whole(result):
            changed = self._writes.count() != before
            assert not changed, f"a refused request changed the database: {result}"


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "broken"])
def test_generated_documents_are_answered_or_refused_cleanly(
    quiet_server: LiveServer, mode: Mode
) -> None:
    @BUDGET
    @given(
        from_schema(SDL, custom_scalars=SCALARS, mode=mode),  # type: ignore[arg-type]
        st.sampled_from(["viewer", "editor", "admin"]),
    )
    def run(document: str, role: str) -> None:
        fuzzer.check(json.dumps({"query": document}).encode(), role)

    fuzzer = Fuzzer(quiet_server)

    run()


NOT_GRAPHQL = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(["query", "variables", "operationName", "x"]), inner)
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
)


def test_bodies_that_are_not_graphql_are_refused_cleanly(quiet_server: LiveServer) -> None:
    @settings(BUDGET, max_examples=max(1, EXAMPLES // 2))
    @given(NOT_GRAPHQL, st.sampled_from(["application/json", "application/graphql", "text/plain"]))
    def run(body: bytes, content_type: str) -> None:
        fuzzer.check(body, "editor", content_type)

    fuzzer = Fuzzer(quiet_server)

    run()
