"""The bare peer of the GraphQL transition path: one Starlette route, no GraphQL, no ORM.

`POST /transition` with `{"id": "<journey id>", "status": "PAUSED" | "ACTIVE"}` and
`Authorization: Bearer <token>` does, on the project's own engine (`store.database.Database`,
same pool, same SQLite pragmas, same in-process SQLite writer lock), the least database work a
journey status transition needs:

1. look up the token hash in `api_tokens` (the GraphQL path authenticates every request too);
2. read the journey row by id (`FOR UPDATE` on PostgreSQL, as the repository does);
3. update its status, revision, updated_at and status_changed_at;
4. bump `workspaces.last_sequence` with `UPDATE ... RETURNING`;
5. insert a `status_events` row;
6. commit.

All of it is one transaction on one connection; like `Tokens.authenticate`, the token lookup
runs before the writer lock is taken. It is served by uvicorn with the same settings as
`journeys serve` (`uvicorn.run(app, host, port, log_level="info")`, so the access log is on for
both). Run it with `DATABASE_URL=... python bench/bare_peer.py --port 8001`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import col
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.tokens import hash_token
from store.database import Database
from store.tables import JourneyRow, StatusEventRow, TokenRow, WorkspaceRow

# target status -> (the status it must come from, the action the event log records)
_MOVES: dict[str, tuple[str, str]] = {
    "PAUSED": ("ACTIVE", "PAUSE"),
    "ACTIVE": ("PAUSED", "RESUME"),
}
_WRITERS = frozenset({"editor", "admin"})


def _refusal(status_code: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code)


def create_app(database_url: str) -> Starlette:
    database = Database(database_url)

    async def transition(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _refusal(401, "the Authorization value must be 'Bearer <token>'")
        body: dict[str, Any] = await request.json()
        journey_id, target = str(body["id"]), str(body["status"])
        if target not in _MOVES:
            return _refusal(400, "status must be PAUSED or ACTIVE")
        source, action = _MOVES[target]
        now = datetime.now(UTC)

        async with database.engine.connect() as connection:
            caller = (
                await connection.execute(
                    select(TokenRow.workspace_id, TokenRow.name, TokenRow.role).where(
                        col(TokenRow.token_hash) == hash_token(token.strip()),
                        col(TokenRow.revoked_at).is_(None),
                    )
                )
            ).first()
            if caller is None:
                return _refusal(401, "this token is not valid (unknown or revoked)")
            workspace_id, actor_name, role = caller
            if role not in _WRITERS:
                return _refusal(403, "an editor or admin token is needed")

            async with database.writing():
                journey = (
                    await connection.execute(
                        select(JourneyRow.status, JourneyRow.revision, JourneyRow.live_version)
                        .where(
                            col(JourneyRow.id) == journey_id,
                            col(JourneyRow.workspace_id) == workspace_id,
                        )
                        .with_for_update()
                    )
                ).first()
                if journey is None:
                    return _refusal(404, f"no journey with id {journey_id!r} in your workspace")
                status, revision, live_version = journey
                if status != source:
                    return _refusal(409, f"a {status} journey cannot move to {target}")
                await connection.execute(
                    update(JourneyRow)
                    .where(col(JourneyRow.id) == journey_id, col(JourneyRow.revision) == revision)
                    .values(
                        status=target,
                        revision=revision + 1,
                        updated_at=now,
                        status_changed_at=now,
                    )
                )
                sequence = (
                    await connection.execute(
                        update(WorkspaceRow)
                        .where(col(WorkspaceRow.id) == workspace_id)
                        .values(last_sequence=col(WorkspaceRow.last_sequence) + 1)
                        .returning(col(WorkspaceRow.last_sequence))
                    )
                ).scalar_one()
                await connection.execute(
                    insert(StatusEventRow).values(
                        workspace_id=workspace_id,
                        sequence=sequence,
                        journey_id=journey_id,
                        previous_status=status,
                        status=target,
                        action=action,
                        actor_kind="USER",
                        actor_name=actor_name,
                        reason=None,
                        version=live_version,
                        at=now,
                    )
                )
                await connection.commit()
        return JSONResponse({"id": journey_id, "status": target, "revision": revision + 1})

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await database.dispose()

    return Starlette(
        routes=[
            Route("/transition", transition, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL") or "sqlite:///journeys.db"
    # The same call as `journeys serve`, so the servers differ only in the application.
    uvicorn.run(create_app(database_url), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
