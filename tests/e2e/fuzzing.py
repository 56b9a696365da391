"""What the fuzz tests (test_fuzz.py, test_schemathesis.py) ask of every answer, the
server they ask it of, and their budget.

The budget is `JOURNEYS_FUZZ_EXAMPLES`: a count of examples, not a time, so that a
busy machine runs the same cases, only slower; the nightly run sets it higher (README).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import graphql
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from service.clock import ManualClock
from tests.conftest import T0
from tests.e2e.conftest import LiveServer, make_tokens

EXAMPLES = int(os.environ.get("JOURNEYS_FUZZ_EXAMPLES", "500"))

# Dates a journey can hold; the schema says only "a string".
DATE_TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: nodes.String(moment.isoformat()))

# JSON values (profiles' attributes, events' properties): mostly an object of named
# values, as the API wants, and now and then a value it refuses (a nested object or
# list, a name it does not take, a value that is not an object).
_JSON_NAMES = st.one_of(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), st.text(max_size=8))
_JSON_LEAVES = st.one_of(
    st.text(max_size=20).map(nodes.String),
    st.integers(min_value=-(10**12), max_value=10**12).map(nodes.Int),
    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
    st.booleans().map(nodes.Boolean),
    st.just(nodes.Null),
)


def _json_object(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(_JSON_NAMES, values, max_size=4).map(
        lambda fields: nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=name), value=value)
                for name, value in fields.items()
            ]
        )
    )


JSON_VALUES = st.one_of(
    _json_object(_JSON_LEAVES),
    st.recursive(
        _JSON_LEAVES,
        lambda inner: st.one_of(st.lists(inner, max_size=3).map(nodes.List), _json_object(inner)),
        max_leaves=6,
    ),
)


def start_quiet_server(directory: Path, sqlite_template: Path) -> LiveServer:
    """A server on SQLite whose database changes only by requests: no timer loop,
    processor or loader running beside them, so any write is a request's."""
    path = directory / "fuzz.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    clock = ManualClock(T0)
    live = LiveServer(url, clock, make_tokens(url, clock), background_work=False)
    live.start()
    return live


class Writes:
    """Counts the commits that changed a server's SQLite file: `data_version` moves on
    each commit of another connection that changed it, and only then."""

    def __init__(self, server: LiveServer) -> None:
        self._database = sqlite3.connect(server.database_url.removeprefix("sqlite:///"))

    def count(self) -> int:
        (version,) = self._database.execute("PRAGMA data_version").fetchone()
        return int(version)

    def close(self) -> None:
        self._database.close()


def checked(status_code: int, text: str) -> dict[str, Any]:
    """The answer's GraphQL response, once it is known to be clean: not a 5xx, no
    traceback, a JSON object, and a code on every error, never INTERNAL_SERVER_ERROR
    (what an unexpected exception in a resolver becomes, at 200)."""
    assert status_code < 500, text
    assert "Traceback" not in text and 'File "' not in text, text
    result = json.loads(text)
    assert isinstance(result, dict), text
    for error in result.get("errors") or []:
        code = error.get("extensions", {}).get("code")
        assert code and code != "INTERNAL_SERVER_ERROR", error
    return result


def refused_as_a_whole(result: dict[str, Any]) -> bool:
    """Errors, no data, and no field run (no error has a path). A document of several
    mutation fields may write with one and fail another, which nulls the whole answer
    (the fields are non-null): that is execution, not refusal."""
    errors = result.get("errors") or []
    return bool(errors) and result.get("data") is None and not any(e.get("path") for e in errors)
