"""The peers' database work (peer_bare.py, peer_floor.py): the project's tables known only as
the statements below; `serve` refuses to start if a project's package got imported. SQLite:
one connection, no await inside a transaction; PostgreSQL: `--pool-size` connections."""

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Json

PROJECT = {"domain", "store", "service", "gql", "jobs", "cli"}
ACTIONS = {"DESIGNING": ["ACTIVATE"], "ACTIVE": ["PAUSE", "FREEZE", "CLOSE", "ABORT"],
           "PAUSED": ["RESUME", "FREEZE", "REACTIVATE", "ABORT"]}  # fmt: skip
MOVES = {"pause": ("ACTIVE", "PAUSED"), "resume": ("PAUSED", "ACTIVE"),
         "activate": ("DESIGNING", "ACTIVE")}  # fmt: skip
# Every column of both rows, as the project reads a journey: the same work, not less.
JOURNEYS = (
    "SELECT j.id, j.name, j.kind, j.status, j.revision, j.*, v.*, (SELECT {}(l.label) FROM "
    "journey_labels AS l WHERE l.journey_id = j.id) FROM journeys AS j JOIN journey_versions "
    "AS v ON v.journey_id = j.id AND v.number = j.latest_version WHERE j.workspace_id = %s"
)
LOCK = """SELECT status, revision, live_version, latest_version FROM journeys
  WHERE id = %s AND workspace_id = %s"""
MOVE = """UPDATE journeys SET status = %s, revision = %s, updated_at = %s, status_changed_at = %s,
  live_version = %s WHERE id = %s AND revision = %s"""
SEQUENCE = """UPDATE workspaces SET last_sequence = last_sequence + 1 WHERE id = %s
  RETURNING last_sequence"""
TOKEN = "SELECT workspace_id, name, role, revoked_at FROM api_tokens WHERE token_hash = %s"
EVENT = """INSERT INTO status_events (workspace_id, sequence, journey_id, previous_status, status,
  action, actor_kind, actor_name, version, at)
  VALUES (%s, %s, %s, %s, %s, %s, 'USER', %s, %s, %s)"""
LISTENING = """SELECT id, trigger_event FROM journeys WHERE kind = 'EVENT_TRIGGERED'
  AND status = 'ACTIVE' AND workspace_id = %s AND trigger_event = ANY(%s)"""
Rows = list[tuple[Any, ...]]
Execute = Callable[[str, Sequence[Any]], Awaitable[Rows]]
Caller = tuple[str, str]  # (workspace, name)


@dataclass(eq=False)
class Refused(Exception):
    """A request the peer will not carry out: the project's `extensions.code`, an HTTP status."""

    code: str
    status: int = 400


class Db:
    """One database: its transactions, the token cache, the peers' statements."""

    def __init__(self, url: str, pool_size: int) -> None:
        self.url, self.sqlite, self.pool_size = url, url.startswith("sqlite"), pool_size
        self.trusted: dict[str, tuple[float, Caller]] = {}
        self.idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        self.connection: Any = None  # SQLite's one

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        if self.sqlite:
            path = self.url.removeprefix("sqlite:///")
            self.connection = sqlite3.connect(path, isolation_level=None)
            for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON",
                           "synchronous=NORMAL"):  # fmt: skip
                self.connection.execute(f"PRAGMA {pragma}")
        for _ in range(0 if self.sqlite else self.pool_size):
            self.idle.put_nowait(await psycopg.AsyncConnection.connect(self.url))
        yield

    def now(self) -> Any:
        now = datetime.now(UTC)  # SQLite keeps SQLAlchemy's text, PostgreSQL a timestamptz
        return now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else now

    def json(self, value: Any) -> Any:
        return json.dumps(value) if self.sqlite else Json(value)

    @contextlib.asynccontextmanager
    async def transaction(self, write: bool) -> AsyncIterator[Execute]:
        """One transaction, committed at its end, rolled back on an error; a write answers its
        row count."""
        if self.sqlite:
            sqlite = self.connection

            async def run_sqlite(sql: str, params: Sequence[Any]) -> Rows:
                cursor = sqlite.execute(sql.replace("%s", "?"), params)
                return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]

            sqlite.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield run_sqlite
            except BaseException:
                sqlite.execute("ROLLBACK")
                raise
            sqlite.execute("COMMIT")
            return
        connection = await self.idle.get()

        async def run_postgres(sql: str, params: Sequence[Any]) -> Rows:
            cursor = await connection.execute(sql, params)
            return await cursor.fetchall() if cursor.description else [(cursor.rowcount,)]

        try:
            yield run_postgres
            await connection.commit()
        except BaseException:
            await connection.rollback()
            raise
        finally:
            self.idle.put_nowait(connection)

    async def writer(self, authorization: str | None) -> Caller:
        """(workspace, name) of an editor or admin token, trusted 5 s once checked."""
        token = (authorization or "").removeprefix("Bearer ").strip()
        digest = hashlib.sha256(token.encode()).hexdigest()
        until, caller = self.trusted.get(digest, (0.0, ("", "")))
        if until > time.monotonic():
            return caller
        async with self.transaction(write=False) as execute:
            rows = await execute(TOKEN, (digest,))
        if not rows or rows[0][3] is not None or rows[0][2] not in ("editor", "admin"):
            raise Refused("UNAUTHENTICATED", 401)
        self.trusted[digest] = (time.monotonic() + 5, (rows[0][0], rows[0][1]))
        return rows[0][0], rows[0][1]

    async def transition(self, caller: Caller, journey_id: str, action: str) -> dict[str, Any]:
        if action not in MOVES:
            raise Refused("NOT_FOUND", 404)
        (source, target), lock = MOVES[action], "" if self.sqlite else " FOR UPDATE"
        async with self.transaction(write=True) as execute:
            rows = await execute(LOCK + lock, (journey_id, caller[0]))
            if not rows or rows[0][0] != source:
                raise Refused("NOT_FOUND" if not rows else "TRANSITION_NOT_ALLOWED", 409)
            status, revision, live, latest = rows[0]
            live, now = (latest if action == "activate" else live), self.now()
            changed = await execute(
                MOVE, (target, revision + 1, now, now, live, journey_id, revision)
            )
            if changed[0][0] != 1:
                raise Refused("REVISION_CONFLICT", 409)
            sequence = (await execute(SEQUENCE, (caller[0],)))[0][0]
            await execute(EVENT, (caller[0], sequence, journey_id, status, target, action,
                                  caller[1], live, now))  # fmt: skip
        return {"id": journey_id, "status": target, "revision": revision + 1}

    async def journeys(
        self, caller: Caller, journey_id: str | None, first: int = 1
    ) -> tuple[int, list[dict[str, Any]]]:
        """(the workspace's count, its newest `first` journeys), or the one `journey_id`."""
        select = JOURNEYS.format("json_group_array" if self.sqlite else "json_agg")
        async with self.transaction(write=False) as execute:
            if journey_id is not None:
                total, rows = 1, await execute(select + " AND j.id = %s", (caller[0], journey_id))
            else:
                counting = "SELECT count(*) FROM journeys WHERE workspace_id = %s"
                total = int((await execute(counting, (caller[0],)))[0][0])
                rows = await execute(select + " ORDER BY j.pk DESC LIMIT %s", (caller[0], first))
        views = []
        for row in rows:
            labels = json.loads(row[-1]) if isinstance(row[-1], str) else row[-1] or []
            view = dict(zip(("id", "name", "kind", "status", "revision"), row, strict=False))
            views.append(view | {"labels": sorted(labels), "availableActions": ACTIONS[row[3]]})
        return total, views

    async def create(self, caller: Caller, given: dict[str, Any]) -> dict[str, Any]:
        """A DESIGNING journey, its version 1 (its steps as a line of nodes) and its labels."""
        journey_id, now, steps = str(uuid.uuid4()), self.now(), given.get("steps") or []
        nodes = [step | {"key": str(n + 1)} for n, step in enumerate(steps)]
        for node, following in itertools.pairwise(nodes):
            node["next"] = following["key"]
        labels, trigger = sorted(given.get("labels") or []), given.get("triggerEvent")
        async with self.transaction(write=True) as execute:
            await execute(
                "INSERT INTO journeys (id, workspace_id, name, kind, status, revision, "
                "latest_version, trigger_event, audience_fully_entered, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, 'DESIGNING', 1, 1, %s, %s, %s, %s)",
                (journey_id, caller[0], given["name"], given["kind"], trigger, False, now, now),
            )
            await execute(
                "INSERT INTO journey_versions (journey_id, number, nodes, steps, trigger_event, "
                "audience_size, send_delay_seconds, created_at, created_by) "
                "VALUES (%s, 1, %s, %s, %s, 0, 0, %s, %s)",
                (journey_id, self.json(nodes), self.json(steps), trigger, now, caller[1]),
            )
            if labels:
                values = ", ".join(["(%s, %s)"] * len(labels))
                await execute(f"INSERT INTO journey_labels (journey_id, label) VALUES {values}",
                              [x for label in labels for x in (journey_id, label)])  # fmt: skip
        return {"id": journey_id, "name": given["name"], "status": "DESIGNING", "revision": 1,
                "labels": labels, "availableActions": ACTIONS["DESIGNING"]}  # fmt: skip

    async def insert_events(self, caller: Caller, events: list[Any]) -> int:
        """The events in one multi-row INSERT into peer_sql.py's `customer_events`."""
        now, params = self.now(), []
        for event in events:
            if not (event.get("name") and event.get("customerId")):
                raise Refused("VALIDATION_FAILED")
            properties = self.json(event.get("properties") or {})
            params += [caller[0], event["customerId"], event["name"], properties, now, now]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(events))
        async with self.transaction(write=True) as execute:
            await execute(
                "INSERT INTO bench_peer.customer_events (workspace_id, customer_id, "
                f"name, properties, at, recorded_at) VALUES {values}",
                params,
            )
        return len(events)

    async def listening(self, caller: Caller, names: list[str]) -> dict[str, list[str]]:
        """The ids of the ACTIVE journeys each event name triggers (PostgreSQL)."""
        async with self.transaction(write=False) as execute:
            rows = await execute(LISTENING, (caller[0], names))
        found: dict[str, list[str]] = {name: [] for name in names}
        for journey_id, trigger in rows:
            found[trigger].append(journey_id)
        return found


def serve(app_of: Callable[[Db], Any]) -> None:
    """The peer's options, its app around a Db, served by uvicorn as `journeys serve` is."""
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--uvicorn-options", default="{}", help="JSON: `journeys serve`'s")
    parser.add_argument("--pool-size", type=int, default=16, help="PostgreSQL connections")
    args = parser.parse_args()
    app = app_of(Db(args.database_url, args.pool_size))
    if found := sorted({name.split(".")[0] for name in sys.modules} & PROJECT):
        raise SystemExit(f"a peer must not import the project's packages, found: {found}")
    options = json.loads(args.uvicorn_options)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", **options)
