"""What the peer servers share among themselves, and nothing of the project.

The peers (`peer_bare.py`, `peer_floor.py`) are the benchmarks' limits. They must be OUTSIDE
the project: no module here, in `peer_sqlite.py` or `peer_postgres.py` imports `domain`,
`store`, `service`, `gql`, `jobs` or `cli` (`serve` checks `sys.modules` before it serves, and
exits if one was imported). They know the project's tables only as SQL, written from
`store/tables.py` and `store/migrations/versions/*.py`; the tables themselves are made by
`journeys migrate`.

Each unit of database work is written once, below, as a generator that yields `Sql` and is sent
back each statement's `(rows, rowcount)`; the drivers (`peer_sqlite.SqliteStore`, raw `sqlite3`,
and `peer_postgres.PostgresStore`, async `psycopg`) run it inside one transaction. So both
peers, on both databases, send exactly the same statements:

* authentication: `SELECT ... FROM api_tokens WHERE token_hash = ?`, outside the transaction.
  A token found valid is trusted for 5 s from a dict, as the project trusts a checked token for
  5 s (`service/tokens.py`), and never past its expiry;
* a transition (pause, resume, activate): read the journey row by id and workspace
  (`FOR UPDATE` on PostgreSQL; SQLite takes its write lock with `BEGIN IMMEDIATE`), update
  status, revision, updated_at and status_changed_at (and live_version for ACTIVATE) guarded
  by the revision read, `UPDATE workspaces SET last_sequence = last_sequence + 1 ...
  RETURNING last_sequence`, insert one `status_events` row, commit;
* `journey(id)`: the journey joined with its latest version, then its labels;
* `journeys(first)`: the workspace's count, the page (newest first by pk, `first + 1` rows)
  joined with the latest versions, then the labels of the page's journeys in one query;
* `create`: insert the journeys row, its version 1 and its labels.

Datetimes: on SQLite, text `YYYY-MM-DD HH:MM:SS.ffffff` in UTC (SQLAlchemy's format, which the
project reads back); on PostgreSQL, aware datetimes into timestamptz.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import hashlib
import json
import os
import signal
import sys
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

T = TypeVar("T")

PROJECT_PACKAGES = frozenset({"domain", "store", "service", "gql", "jobs", "cli"})
TOKEN_TRUSTED_SECONDS = 5.0  # as service/tokens.py Tokens.CACHE_FOR
WRITERS = frozenset({"editor", "admin"})

# What an editor may do in each status, for a journey without dates: the minimum a floor can
# do is look it up. (The project judges every action against the journey, role and clock; for
# these journeys it answers exactly this, which reads.py checks before it measures.)
AVAILABLE_ACTIONS: dict[str, list[str]] = {
    "DESIGNING": ["ACTIVATE"],
    "SCHEDULED": ["FREEZE", "ABORT"],
    "ACTIVE": ["PAUSE", "FREEZE", "CLOSE", "ABORT"],
    "PAUSED": ["RESUME", "FREEZE", "REACTIVATE", "ABORT"],
    "CLOSED": ["FREEZE", "REACTIVATE", "ABORT"],
    "FROZEN": ["REACTIVATE", "ABORT"],
    "ERROR": ["ABORT"],
    "ABORTED": [],
}


class Refused(Exception):
    """A request the peer will not carry out; `code` as the project's `extensions.code`."""

    HTTP_STATUS = {
        "UNAUTHENTICATED": 401,
        "FORBIDDEN": 403,
        "NOT_FOUND": 404,
        "TRANSITION_NOT_ALLOWED": 409,
        "REVISION_CONFLICT": 409,
        "VALIDATION_FAILED": 400,
    }

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return self.HTTP_STATUS.get(self.code, 400)


@dataclass(frozen=True, slots=True)
class Caller:
    workspace_id: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Move:
    source: str
    target: str
    action: str
    makes_live: bool = False  # ACTIVATE makes the latest version live


MOVES: dict[str, Move] = {
    "pause": Move("ACTIVE", "PAUSED", "PAUSE"),
    "resume": Move("PAUSED", "ACTIVE", "RESUME"),
    "activate": Move("DESIGNING", "ACTIVE", "ACTIVATE", makes_live=True),
}


@dataclass(slots=True)
class JourneyView:
    id: str
    name: str
    kind: str
    status: str
    revision: int
    labels: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "revision": self.revision,
            "labels": self.labels,
            "availableActions": AVAILABLE_ACTIONS[self.status],
        }


@dataclass(frozen=True, slots=True)
class NewJourney:
    name: str
    kind: str
    trigger_event: str | None
    steps: list[dict[str, Any]]  # as stored: {"type": ..., and seconds/channel/template if set}
    labels: list[str]

    @classmethod
    def of(cls, given: dict[str, Any]) -> NewJourney:
        """From the GraphQL `CreateJourneyInput` as JSON (camelCase keys)."""
        steps = [
            {key: value for key, value in step.items() if value is not None}
            for step in given.get("steps") or []
        ]
        return cls(
            name=str(given["name"]),
            kind=str(given["kind"]),
            trigger_event=given.get("triggerEvent"),
            steps=steps,
            labels=sorted(set(given.get("labels") or [])),
        )


# -- the SQL, once for both drivers ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sql:
    text: str  # with %s placeholders; the SQLite store turns them into ?
    params: tuple[Any, ...]


Result = tuple[list[tuple[Any, ...]], int]  # rows (none for a statement without), rowcount
Work = Generator[Sql, Result, T]


class Dialect(ABC):
    """Where the two databases differ in what the same statements are given."""

    for_update: str  # appended to the transition's read of the journey row
    json_list: str  # the aggregate that gives a group's values as a JSON array

    @abstractmethod
    def now(self) -> Any:
        """The current instant as the datetime columns take it."""

    @abstractmethod
    def json(self, value: Any) -> Any:
        """A value for a JSON column."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_work(token_hash: str) -> Work[tuple[Any, ...] | None]:
    rows, _ = yield Sql(
        "SELECT workspace_id, name, role, expires_at, revoked_at FROM api_tokens "
        "WHERE token_hash = %s",
        (token_hash,),
    )
    return rows[0] if rows else None


_SET_STATUS = (
    "UPDATE journeys SET status = %s, revision = %s, updated_at = %s, status_changed_at = %s "
    "WHERE id = %s AND revision = %s"
)
_SET_STATUS_LIVE = (
    "UPDATE journeys SET status = %s, revision = %s, updated_at = %s, status_changed_at = %s, "
    "live_version = %s WHERE id = %s AND revision = %s"
)
_INSERT_EVENT = (
    "INSERT INTO status_events (workspace_id, sequence, journey_id, previous_status, status, "
    "action, actor_kind, actor_name, reason, version, at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def transition_work(
    dialect: Dialect, caller: Caller, journey_id: str, move: Move
) -> Work[tuple[str, int]]:
    """One status change and its event; returns (new status, new revision)."""
    rows, _ = yield Sql(
        "SELECT status, revision, live_version, latest_version FROM journeys "
        "WHERE id = %s AND workspace_id = %s" + dialect.for_update,
        (journey_id, caller.workspace_id),
    )
    if not rows:
        raise Refused("NOT_FOUND", f"no journey with id {journey_id!r} in your workspace")
    status, revision, live_version, latest_version = rows[0]
    if status != move.source:
        raise Refused("TRANSITION_NOT_ALLOWED", f"{move.action} is not allowed from {status}")
    now = dialect.now()
    if move.makes_live:
        live_version = latest_version
        update = Sql(
            _SET_STATUS_LIVE,
            (move.target, revision + 1, now, now, live_version, journey_id, revision),
        )
    else:
        update = Sql(_SET_STATUS, (move.target, revision + 1, now, now, journey_id, revision))
    _, changed = yield update
    if changed != 1:
        raise Refused("REVISION_CONFLICT", "the journey was changed at the same moment")
    rows, _ = yield Sql(
        "UPDATE workspaces SET last_sequence = last_sequence + 1 WHERE id = %s "
        "RETURNING last_sequence",
        (caller.workspace_id,),
    )
    sequence = rows[0][0]
    yield Sql(
        _INSERT_EVENT,
        (
            caller.workspace_id, sequence, journey_id, status, move.target, move.action, "USER",
            caller.name, None, live_version, now,
        ),
    )  # fmt: skip
    return move.target, revision + 1


# Every column of both rows and the journey's labels (as JSON), as the project's
# `store.journey_rows.journeys_where` selects them: one statement, built once per dialect.
@functools.cache
def _journey_with_latest(dialect: Dialect) -> str:
    return (
        "SELECT j.pk, j.id, j.workspace_id, j.name, j.kind, j.status, j.revision, "
        "j.live_version, j.latest_version, j.start_at, j.end_at, j.trigger_event, "
        "j.send_delay_seconds, j.status_before_error, j.error_reason, "
        "j.audience_fully_entered, j.copied_from_id, j.created_at, j.updated_at, "
        "j.status_changed_at, v.journey_id, v.number, v.steps, v.start_at, v.end_at, "
        "v.trigger_event, v.audience_list, v.audience_size, v.send_delay_seconds, "
        "v.created_at, v.created_by, "
        f"(SELECT {dialect.json_list}(l.label) FROM journey_labels AS l "
        "WHERE l.journey_id = j.id) AS labels "
        "FROM journeys AS j JOIN journey_versions AS v "
        "ON v.journey_id = j.id AND v.number = j.latest_version "
    )


def _views(rows: list[tuple[Any, ...]]) -> list[JourneyView]:
    views = []
    for row in rows:
        labels = row[-1]  # JSON text (SQLite), a list or NULL (PostgreSQL)
        labels = json.loads(labels) if isinstance(labels, str) else labels or []
        views.append(JourneyView(row[1], row[3], row[4], row[5], row[6], sorted(labels)))
    return views


def journey_work(dialect: Dialect, caller: Caller, journey_id: str) -> Work[JourneyView | None]:
    rows, _ = yield Sql(
        _journey_with_latest(dialect) + "WHERE j.id = %s AND j.workspace_id = %s",
        (journey_id, caller.workspace_id),
    )
    views = _views(rows)
    return views[0] if views else None


def journeys_work(
    dialect: Dialect, caller: Caller, first: int
) -> Work[tuple[int, list[JourneyView]]]:
    """(the workspace's count, its newest `first` journeys)."""
    rows, _ = yield Sql(
        "SELECT count(*) FROM journeys WHERE workspace_id = %s", (caller.workspace_id,)
    )
    total = int(rows[0][0])
    rows, _ = yield Sql(
        _journey_with_latest(dialect) + "WHERE j.workspace_id = %s ORDER BY j.pk DESC LIMIT %s",
        (caller.workspace_id, first + 1),
    )
    return total, _views(rows)[:first]


_INSERT_JOURNEY = (
    "INSERT INTO journeys (id, workspace_id, name, kind, status, revision, live_version, "
    "latest_version, start_at, end_at, trigger_event, status_before_error, error_reason, "
    "audience_fully_entered, copied_from_id, created_at, updated_at, status_changed_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_VERSION = (
    "INSERT INTO journey_versions (journey_id, number, nodes, steps, start_at, end_at, "
    "trigger_event, audience_list, audience_size, send_delay_seconds, created_at, created_by) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def nodes_of(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flow the project keeps for a straight line of steps: keys "1", "2", ..., each
    leading to the next (its docs/rules.md, "The flow")."""
    nodes = []
    for index, step in enumerate(steps):
        node = {"key": str(index + 1), **step}
        if index + 1 < len(steps):
            node["next"] = str(index + 2)
        nodes.append(node)
    return nodes


def create_work(dialect: Dialect, caller: Caller, new: NewJourney) -> Work[JourneyView]:
    """A DESIGNING journey, its version 1 and its labels."""
    if not new.name.strip() or len(new.name) > 200:
        raise Refused("VALIDATION_FAILED", "a journey's name has 1 to 200 characters")
    journey_id = str(uuid.uuid4())
    now = dialect.now()
    yield Sql(
        _INSERT_JOURNEY,
        (
            journey_id, caller.workspace_id, new.name, new.kind, "DESIGNING", 1, None, 1, None,
            None, new.trigger_event, None, None, False, None, now, now, None,
        ),
    )  # fmt: skip
    yield Sql(
        _INSERT_VERSION,
        (
            journey_id, 1, dialect.json(nodes_of(new.steps)), dialect.json(new.steps), None,
            None, new.trigger_event, None, 0, 0, now, caller.name,
        ),
    )  # fmt: skip
    if new.labels:
        values = ", ".join(["(%s, %s)"] * len(new.labels))
        params = tuple(item for label in new.labels for item in (journey_id, label))
        yield Sql(f"INSERT INTO journey_labels (journey_id, label) VALUES {values}", params)
    return JourneyView(journey_id, new.name, new.kind, "DESIGNING", 1, list(new.labels))


def run_work(work: Work[T], execute: Callable[[Sql], Result]) -> T:
    """Drive a unit of work with a blocking driver."""
    try:
        statement = next(work)
        while True:
            statement = work.send(execute(statement))
    except StopIteration as done:
        result: T = done.value
        return result


async def run_work_async(work: Work[T], execute: Callable[[Sql], Awaitable[Result]]) -> T:
    """Drive a unit of work with an async driver."""
    try:
        statement = next(work)
        while True:
            statement = work.send(await execute(statement))
    except StopIteration as done:
        result: T = done.value
        return result


# -- the store both peers use -------------------------------------------------------------


class Store(ABC):
    """One database, the peers' operations on it, and the token cache."""

    dialect: Dialect

    def __init__(self) -> None:
        # token hash -> (trusted until, time.monotonic(); the caller)
        self._trusted: dict[str, tuple[float, Caller]] = {}

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def run(self, work: Work[T], *, write: bool) -> T:
        """Run `work` in one transaction (a write one when `write`), committed at its end."""

    @abstractmethod
    async def run_alone(self, work: Work[T]) -> T:
        """Run `work` outside any transaction (the token lookup)."""

    @abstractmethod
    def expiry(self, stored: Any) -> float:
        """A stored `expires_at` as a Unix time."""

    async def caller(self, authorization: str | None) -> Caller:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused("UNAUTHENTICATED", "the Authorization value must be 'Bearer <token>'")
        token_hash = hash_token(token.strip())
        trusted = self._trusted.get(token_hash)
        if trusted is not None and trusted[0] > time.monotonic():
            return trusted[1]
        row = await self.run_alone(token_work(token_hash))
        if row is None or row[4] is not None:
            raise Refused("UNAUTHENTICATED", "this token is not valid (unknown or revoked)")
        workspace_id, name, role, expires_at, _revoked_at = row
        until = time.monotonic() + TOKEN_TRUSTED_SECONDS
        if expires_at is not None:
            left = self.expiry(expires_at) - time.time()
            if left <= 0:
                raise Refused("UNAUTHENTICATED", "this token expired")
            until = min(until, time.monotonic() + left)
        caller = Caller(workspace_id, name, role)
        if len(self._trusted) >= 10_000:
            self._trusted.clear()
        self._trusted[token_hash] = (until, caller)
        return caller

    async def writer(self, authorization: str | None) -> Caller:
        caller = await self.caller(authorization)
        if caller.role not in WRITERS:
            raise Refused("FORBIDDEN", "an editor or admin token is needed")
        return caller

    async def transition(self, caller: Caller, journey_id: str, move: Move) -> tuple[str, int]:
        return await self.run(transition_work(self.dialect, caller, journey_id, move), write=True)

    async def journey(self, caller: Caller, journey_id: str) -> JourneyView | None:
        return await self.run(journey_work(self.dialect, caller, journey_id), write=False)

    async def journeys(self, caller: Caller, first: int) -> tuple[int, list[JourneyView]]:
        if not 0 <= first <= 100:
            raise Refused("VALIDATION_FAILED", "first must be between 0 and 100")
        return await self.run(journeys_work(self.dialect, caller, first), write=False)

    async def create(self, caller: Caller, new: NewJourney) -> JourneyView:
        return await self.run(create_work(self.dialect, caller, new), write=True)


def sqlite_text(when: datetime) -> str:
    """An instant as SQLAlchemy stores a DateTime on SQLite: UTC, naive, microseconds."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- serving ------------------------------------------------------------------------------


def die_with_parent() -> None:
    """SIGTERM this process when the benchmark that started it dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        sys.exit(1)


def check_outside_project() -> None:
    """Refuse to serve if any of the project's packages got imported into this peer."""
    found = sorted({name.split(".")[0] for name in sys.modules} & PROJECT_PACKAGES)
    if found:
        raise SystemExit(f"a peer must not import the project's packages, found: {found}")


def open_store(database_url: str, sqlite_calls: str, pool_size: int) -> Store:
    if database_url.startswith("sqlite:///"):
        from peer_sqlite import SqliteStore

        return SqliteStore(
            database_url.removeprefix("sqlite:///"), threaded=sqlite_calls == "thread"
        )
    if database_url.startswith(("postgresql://", "postgres://")):
        from peer_postgres import PostgresStore

        return PostgresStore(database_url, pool_size)
    raise SystemExit(f"DATABASE_URL must be sqlite:///... or postgresql://..., not {database_url}")


def serve(routes: Callable[[Store], Sequence[BaseRoute]], description: str) -> None:
    """Parse the peer's options, build its Starlette app around a store, serve it with uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument(
        "--uvicorn-options",
        default="{}",
        help="JSON: the project server's uvicorn options (harness.project_server_options)",
    )
    parser.add_argument(
        "--sqlite-calls",
        choices=["direct", "thread"],
        default="direct",
        help="direct: sqlite3 calls on the event loop; thread: one hop per transaction",
    )
    parser.add_argument("--pool-size", type=int, default=16, help="PostgreSQL connections")
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("--database-url (or DATABASE_URL) is needed")
    die_with_parent()
    store = open_store(args.database_url, args.sqlite_calls, args.pool_size)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    app = Starlette(routes=list(routes(store)), lifespan=lifespan)
    check_outside_project()
    options: dict[str, Any] = json.loads(args.uvicorn_options)
    # The same call as `journeys serve` makes, so the servers differ only in the application.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", **options)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})
