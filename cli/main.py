"""`journeys serve | worker | migrate | token create|revoke|list | prune-log | audit |
settings | export-schema`."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cli.logs import configure as configure_logging
from cli.logs import log_config
from domain.actions import Role
from domain.errors import DomainError
from domain.events import LoggedStatusChange
from service.clock import SystemClock
from service.settings import Settings, SettingsError
from service.tokens import TokenInfo, Tokens, show_time
from store.database import Database

if TYPE_CHECKING:
    from service.retention import PruneReport

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
    create.add_argument(
        "--expires-in",
        type=parse_duration,
        metavar="DURATION",
        help="refuse the token after this long: 30d, 12h or 90m (default: never expires)",
    )
    revoke = token_commands.add_parser(
        "revoke", help="revoke the tokens of this name (other processes notice within 5 s)"
    )
    revoke.add_argument("--workspace", required=True)
    revoke.add_argument("--name", required=True)
    listing = token_commands.add_parser(
        "list", help="a workspace's tokens: name, role, dates, state (never the token)"
    )
    listing.add_argument("--workspace", required=True)

    prune = commands.add_parser(
        "prune-log",
        help="delete status events older than DAYS days, in every workspace (safe while serving)",
    )
    prune.add_argument("--older-than", required=True, type=parse_days, metavar="DAYS")

    audit = commands.add_parser(
        "audit",
        help="print a workspace's status log since a time: who did what, why, to which version",
    )
    audit.add_argument("--workspace", required=True)
    audit.add_argument(
        "--since",
        required=True,
        type=parse_instant,
        metavar="TIME",
        help="an ISO 8601 time with its offset, e.g. 2026-11-01T00:00:00Z",
    )
    audit.add_argument("--json", action="store_true", help="one JSON object a line")

    commands.add_parser(
        "settings", help="print every setting's variable, value (secrets hidden) and meaning"
    )

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
            if args.token_command == "revoke":
                return revoke_tokens(settings, args.workspace, args.name)
            if args.token_command == "list":
                return list_tokens(settings, args.workspace)
            return create_token(
                settings, args.workspace, Role(args.role), args.name, args.expires_in
            )
        if args.command == "prune-log":
            return prune_log(settings, args.older_than)
        if args.command == "settings":
            return print_settings(settings)
        if args.command == "audit":
            return print_audit(settings, args.workspace, args.since, as_json=args.json)
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


_DURATION = re.compile(r"\s*(\d{1,9})\s*([dhm])\s*")
_DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
LONGEST = timedelta(days=36500)


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`: a whole, positive number of days, hours or minutes."""
    found = _DURATION.fullmatch(text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: write a whole number and a unit, "
            "like 30d (days), 12h (hours) or 90m (minutes)"
        )
    duration = timedelta(**{_DURATION_UNITS[found[2]]: int(found[1])})
    if not timedelta(0) < duration <= LONGEST:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be above 0 and at most 36500d")
    return duration


def parse_days(text: str) -> int:
    """A whole number of days, 1 to 36500."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not 1 <= days <= LONGEST.days:
        raise argparse.ArgumentTypeError(f"days must be between 1 and {LONGEST.days}, not {days}")
    return days


def create_token(
    settings: Settings,
    workspace: str,
    role: Role,
    name: str | None,
    expires_in: timedelta | None = None,
) -> int:
    from store.migrate import upgrade

    upgrade(settings.database_url)
    token = asyncio.run(
        _with_tokens(
            settings, lambda tokens: tokens.create(workspace, role, name, expires_in=expires_in)
        )
    )
    print(f"token for workspace {workspace!r}, role {role.value} (shown once, keep it safe):")
    print(token)
    return 0


def revoke_tokens(settings: Settings, workspace: str, name: str) -> int:
    from store.migrate import upgrade

    upgrade(settings.database_url)
    done = asyncio.run(_with_tokens(settings, lambda tokens: tokens.revoke(workspace, name)))
    for info in done.revoked:
        print(
            f"revoked token {info.name!r} ({info.role.value}, created "
            f"{show_time(info.created_at)}) of workspace {workspace!r}; "
            f"running servers refuse it within {Tokens.CACHE_FOR.seconds} s"
        )
    for info in done.already_revoked:
        assert info.revoked_at is not None
        print(
            f"token {info.name!r} ({info.role.value}, created {show_time(info.created_at)}) "
            f"was already revoked at {show_time(info.revoked_at)}"
        )
    return 0


def list_tokens(settings: Settings, workspace: str) -> int:
    from store.migrate import upgrade

    upgrade(settings.database_url)
    clock = SystemClock()
    infos = asyncio.run(_with_tokens(settings, lambda tokens: tokens.list_tokens(workspace)))
    print(token_table(infos, clock.now()), end="")
    return 0


def token_table(infos: list[TokenInfo], now: datetime) -> str:
    """Tokens as aligned columns, one line each (never the token or its hash)."""
    header = ("NAME", "ROLE", "CREATED", "EXPIRES", "REVOKED", "STATE")
    rows = [header] + [
        (
            info.name,
            info.role.value,
            show_time(info.created_at),
            show_time(info.expires_at) if info.expires_at else "never",
            show_time(info.revoked_at) if info.revoked_at else "-",
            info.state(now).value,
        )
        for info in infos
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )


def prune_log(settings: Settings, days: int) -> int:
    from service.retention import LogRetention
    from store.migrate import upgrade

    upgrade(settings.database_url)

    async def prune(database: Database) -> PruneReport:
        return await LogRetention(database, SystemClock()).prune(timedelta(days=days))

    report = asyncio.run(_with_database(settings, prune))
    print(f"deleted status events older than {show_time(report.cutoff)} ({days} days):")
    for workspace in report.workspaces:
        print(
            f"  {workspace.workspace_id}: {workspace.deleted} deleted; the log keeps "
            f"events after sequence {workspace.pruned_through}"
        )
    print(f"{report.deleted} events deleted in all")
    return 0


def print_settings(settings: Settings) -> int:
    """The effective settings, each with its variable, default and what it is for."""
    for setting in settings.described():
        changed = "" if setting.value == setting.default else f"  (default {setting.default})"
        print(f"{setting.variable}={setting.value}{changed}")
        print(f"    {setting.description}")
    print(f"mode: {settings.mode.value}")
    return 0


def parse_instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use ISO 8601, e.g. 2026-11-01T00:00:00Z"
        ) from None
    if instant.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset: add Z or e.g. +01:00")
    return instant


def print_audit(settings: Settings, workspace: str, since: datetime, *, as_json: bool) -> int:
    """The status log from `since`, printed as it is read, a page at a time."""
    from service.reads import JourneyReads

    async def show(database: Database) -> int:
        shown = 0
        async for logged in JourneyReads(database).audit_trail(workspace, since):
            print(audit_line(logged, as_json=as_json))
            shown += 1
        return shown

    shown = asyncio.run(_with_database(settings, show))
    if not as_json:
        print(f"{shown} events in workspace {workspace!r} since {show_time(since)}")
    return 0


def audit_line(logged: LoggedStatusChange, *, as_json: bool) -> str:
    change = logged.change
    fields = {
        "sequence": logged.sequence,
        "at": change.at.isoformat(),
        "journeyId": change.journey_id,
        "previousStatus": change.previous_status.value,
        "status": change.status.value,
        "action": change.action.value,
        "actor": {"kind": change.actor.kind.value, "name": change.actor.name},
        "version": change.version,
        "reason": change.reason,
    }
    if as_json:
        return json.dumps(fields, ensure_ascii=False)
    reason = f"  reason: {change.reason}" if change.reason else ""
    version = f" v{change.version}" if change.version is not None else ""
    return (
        f"{logged.sequence:>8}  {show_time(change.at)}  {change.journey_id}{version}  "
        f"{change.previous_status.value} -> {change.status.value}  {change.action.value}  "
        f"by {change.actor.kind.value.lower()} {change.actor.name}{reason}"
    )


def serve_api(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from gql.app import create_app, serve_options
    from jobs.runners import runners_for
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
    print(f"Dashboard: open http://{host}:{port}/ in a browser and sign in with a token")
    print(f"GraphiQL: open http://{host}:{port}/graphql in a browser")
    print('  with the header {"Authorization": "Bearer <token>"}')
    app = create_app(services, runners_for(services))
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        log_config=log_config(settings.log_format),
        **serve_options(settings),
    )
    return 0


def run_worker(settings: Settings, *, check: bool) -> int:
    from jobs import worker
    from store.migrate import upgrade

    if check:
        healthy = worker.worker_is_healthy(settings)
        print("a worker is alive" if healthy else "no live worker on this queue")
        return 0 if healthy else 1
    configure_logging(settings.log_format)
    upgrade(settings.database_url)
    worker.run(settings)  # returns once stopped by SIGTERM or SIGINT
    return 0


async def _with_tokens(settings: Settings, use: Callable[[Tokens], Awaitable[T]]) -> T:
    """Run `use` with the token store, on a database connection of its own."""
    return await _with_database(settings, lambda database: use(Tokens(database, SystemClock())))


async def _with_database(settings: Settings, use: Callable[[Database], Awaitable[T]]) -> T:
    """Run `use` on a database connection of its own."""
    database = Database(settings.database_url)
    try:
        return await use(database)
    finally:
        await database.dispose()


if __name__ == "__main__":
    sys.exit(main())
