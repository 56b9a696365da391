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
