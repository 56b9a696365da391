"""`journeys serve | worker | migrate | token create | export-schema`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from domain.actions import Role
from domain.errors import DomainError
from service.clock import SystemClock
from service.settings import Settings, SettingsError
from service.tokens import Tokens
from store.database import Database

T = TypeVar("T")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="journeys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API (embedded mode)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    commands.add_parser("migrate", help="apply database migrations")

    worker = commands.add_parser("worker", help="run an arq worker (distributed mode)")
    worker.add_argument(
        "--check", action="store_true", help="exit 0 only if a worker is alive on this queue"
    )

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="make a token; it is printed once")
    create.add_argument("--workspace", required=True)
    create.add_argument("--role", required=True, choices=["viewer", "editor", "admin"])
    create.add_argument("--name", help="shown as the actor of this token's changes")

    export = commands.add_parser("export-schema", help="write the GraphQL schema (SDL)")
    export.add_argument("--output", default="schema.graphql")

    args = parser.parse_args(argv)
    try:
        if args.command == "export-schema":
            return export_schema(Path(args.output))
        settings = Settings.from_env()
        if args.command == "migrate":
            return migrate(settings)
        if args.command == "worker":
            return run_worker(settings, check=args.check)
        if args.command == "token":
            return create_token(settings, args.workspace, Role(args.role), args.name)
        return serve_api(settings, args.host, args.port)
    except (SettingsError, DomainError) as error:
        print(f"journeys: {error}", file=sys.stderr)
        return 2


def export_schema(output: Path) -> int:
    from gql.schema import schema

    output.write_text(schema.as_str() + "\n")
    print(f"wrote {output}")
    return 0


def migrate(settings: Settings) -> int:
    from store.migrate import upgrade

    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def create_token(settings: Settings, workspace: str, role: Role, name: str | None) -> int:
    from store.migrate import upgrade

    upgrade(settings.database_url)
    token = asyncio.run(_with_tokens(settings, lambda tokens: tokens.create(workspace, role, name)))
    print(f"token for workspace {workspace!r}, role {role.value} (shown once, keep it safe):")
    print(token)
    return 0


def serve_api(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from gql.app import create_app
    from service.services import Services
    from store.migrate import upgrade

    upgrade(settings.database_url)
    services = Services.from_settings(settings)
    first_token = asyncio.run(_with_tokens(settings, lambda tokens: tokens.bootstrap()))
    if first_token:
        print("No token existed yet: made workspace 'default' and an admin token for it")
        print("(shown once, keep it safe):")
        print(f"  {first_token}")
    print(f"mode: {settings.mode.value}")
    print(f"GraphiQL: open http://{host}:{port}/graphql in a browser")
    print('  with the header {"Authorization": "Bearer <token>"}')
    uvicorn.run(
        create_app(services),
        host=host,
        port=port,
        log_level="info",
        # Protocol-level pings on every WebSocket, whatever its subprotocol:
        # a client gone without a close frame is dropped after two intervals.
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds,
    )
    return 0


def run_worker(settings: Settings, *, check: bool) -> int:
    from jobs.worker import make_worker, worker_is_healthy
    from store.migrate import upgrade

    if check:
        healthy = worker_is_healthy(settings)
        print("a worker is alive" if healthy else "no live worker on this queue")
        return 0 if healthy else 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    upgrade(settings.database_url)
    make_worker(settings).run()
    return 0


async def _with_tokens(settings: Settings, use: Callable[[Tokens], Awaitable[T]]) -> T:
    """Run `use` with the token store, on a database connection of its own."""
    database = Database(settings.database_url)
    try:
        return await use(Tokens(database, SystemClock()))
    finally:
        await database.dispose()


if __name__ == "__main__":
    sys.exit(main())
