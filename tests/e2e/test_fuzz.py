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
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from gql.schema import schema as journeys_schema
from tests.conftest import T0
from tests.e2e.conftest import LiveServer, make_tokens

# A budget of examples, not of time: on a busy machine it takes longer.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("JOURNEYS_FUZZ_EXAMPLES", "500"))
SDL = journeys_schema.as_str()
SCALARS = {
    "DateTime": st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ).map(lambda moment: nodes.String(moment.isoformat())),
}
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def quiet_server(tmp_path, sqlite_template) -> Iterator[LiveServer]:
    """A server on SQLite whose database changes only by requests: no timer loop,
    processor or loader running beside them."""
    import shutil

    from service.clock import ManualClock

    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    clock = ManualClock(T0)
    live = LiveServer(url, clock, make_tokens(url, clock), background_work=False)
    live.start()
    yield live
    live.stop()


class Fuzzer:
    """Posts bodies to the server over one connection, and watches for writes:
    SQLite's `data_version` moves on each commit of another connection that
    changed the file, and only then."""

    def __init__(self, server: LiveServer) -> None:
        self._server = server
        self._client = httpx.Client(base_url=server.base_url, timeout=30)
        self._database = sqlite3.connect(server.database_url.removeprefix("sqlite:///"))

    def writes(self) -> int:
        (version,) = self._database.execute("PRAGMA data_version").fetchone()
        return int(version)

    def check(self, body: bytes, as_: str, content_type: str = "application/json") -> None:
        before = self.writes()
        answer = self._client.post(
            "/graphql",
            content=body,
            headers={
                "Authorization": f"Bearer {self._server.tokens[as_]}",
                "Content-Type": content_type,
            },
        )
        assert answer.status_code < 500, answer.text
        assert "Traceback" not in answer.text and 'File "' not in answer.text, answer.text
        result = answer.json()
        errors = result.get("errors") or []
        for error in errors:
            assert error.get("extensions", {}).get("code"), error
        # Refused as a whole (before any field ran: no error has a path). A document of
        # several mutation fields may write with one and fail another, which nulls
        # the whole answer (the fields are non-null): that is execution, not refusal.
        if errors and result.get("data") is None and not any(e.get("path") for e in errors):
            assert self.writes() == before, f"a refused request changed the database: {result}"


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
