"""Token expiry, revocation and the principal cache, on SQLite and PostgreSQL,
with the manual clock (the wall clock is never read: T0 is in 2030)."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from cli.main import main, parse_days, parse_duration, token_table
from domain.actions import Role
from domain.errors import NotFound, Unauthenticated, ValidationFailed
from service.clock import ManualClock
from service.services import Services
from service.tokens import Tokens, TokenState
from tests.conftest import T0

pytestmark = pytest.mark.anyio

CACHE = Tokens.CACHE_FOR.total_seconds()


async def test_an_expired_token_is_refused_and_says_when(services: Services, clock: ManualClock):
    token = await services.tokens.create("acme", Role.EDITOR, "temp", expires_in=timedelta(hours=1))
    principal = await services.tokens.authenticate(f"Bearer {token}")
    assert principal.token_name == "temp" and principal.expires_at == T0 + timedelta(hours=1)

    clock.advance(minutes=59, seconds=59)
    assert (await services.tokens.authenticate(f"Bearer {token}")).role is Role.EDITOR

    clock.advance(seconds=1)  # exactly at expires_at: refused
    with pytest.raises(Unauthenticated, match=r"expired at 2030-01-01T10:00:00Z"):
        await services.tokens.authenticate(f"Bearer {token}")


async def test_a_token_without_expiry_never_expires(services: Services, clock: ManualClock):
    token = await services.tokens.create("acme", Role.VIEWER, "forever")
    clock.advance(days=3650)
    principal = await services.tokens.authenticate(f"Bearer {token}")
    assert principal.expires_at is None


async def test_the_cache_never_outlives_the_expiry(services: Services, clock: ManualClock):
    token = await services.tokens.create(
        "acme", Role.EDITOR, "short", expires_in=timedelta(hours=1)
    )
    # Checked 2 s before it expires: trusted for those 2 s, not for CACHE_FOR (5 s).
    clock.advance(minutes=59, seconds=58)
    await services.tokens.authenticate(f"Bearer {token}")
    clock.advance(seconds=1.999)
    await services.tokens.authenticate(f"Bearer {token}")
    clock.advance(seconds=0.001)
    with pytest.raises(Unauthenticated, match="expired"):
        await services.tokens.authenticate(f"Bearer {token}")
    assert not await services.tokens.still_valid(f"Bearer {token}")


async def test_a_revocation_bites_within_cache_for(services: Services, clock: ManualClock):
    token = await services.tokens.create("acme", Role.EDITOR, "leaky")
    await services.tokens.authenticate(f"Bearer {token}")  # now cached in this process

    # Revoked from another process (the CLI): this one's cache is not told.
    elsewhere = Tokens(services.database, clock)
    done = await elsewhere.revoke("acme", "leaky")
    assert [info.name for info in done.revoked] == ["leaky"] and done.already_revoked == []
    assert done.revoked[0].revoked_at == T0

    clock.advance(seconds=CACHE - 0.001)
    assert await services.tokens.still_valid(f"Bearer {token}")  # trusted from the cache
    clock.advance(seconds=0.001)
    assert not await services.tokens.still_valid(f"Bearer {token}")
    with pytest.raises(Unauthenticated, match=r"revoked at 2030-01-01T09:00:00Z"):
        await services.tokens.authenticate(f"Bearer {token}")


async def test_a_revocation_in_this_process_bites_at_once(services: Services):
    token = await services.tokens.create("acme", Role.ADMIN, "gone")
    await services.tokens.authenticate(f"Bearer {token}")
    await services.tokens.revoke("acme", "gone")
    with pytest.raises(Unauthenticated, match="revoked"):
        await services.tokens.authenticate(f"Bearer {token}")


async def test_revoke_takes_every_token_of_the_name_and_is_harmless_twice(
    services: Services, clock: ManualClock
):
    first = await services.tokens.create("acme", Role.EDITOR, "alice")
    clock.advance(minutes=1)
    second = await services.tokens.create("acme", Role.VIEWER, "alice")
    other = await services.tokens.create("acme", Role.EDITOR, "bob")
    same_name_elsewhere = await services.tokens.create("other", Role.EDITOR, "alice")

    done = await services.tokens.revoke("acme", "alice")
    assert [info.role for info in done.revoked] == [Role.EDITOR, Role.VIEWER]
    for token in (first, second):
        assert not await services.tokens.still_valid(f"Bearer {token}")
    for token in (other, same_name_elsewhere):
        assert await services.tokens.still_valid(f"Bearer {token}")

    clock.advance(minutes=1)
    again = await services.tokens.revoke("acme", "alice")
    assert again.revoked == [] and len(again.already_revoked) == 2
    assert {info.revoked_at for info in again.already_revoked} == {T0 + timedelta(minutes=1)}


async def test_revoking_an_unknown_name_is_a_clear_error(services: Services):
    await services.tokens.create("acme", Role.EDITOR, "alice")
    with pytest.raises(NotFound, match="workspace 'acme' has no token named 'nobody'"):
        await services.tokens.revoke("acme", "nobody")
    with pytest.raises(NotFound):
        await services.tokens.revoke("nowhere", "alice")


async def test_still_valid_refuses_what_authenticate_refuses(
    services: Services, clock: ManualClock
):
    token = await services.tokens.create("acme", Role.EDITOR, "ws", expires_in=timedelta(days=1))
    assert await services.tokens.still_valid(f"Bearer {token}")
    for value in (None, "", "Basic abc", "Bearer ", "Bearer jrn_unknown"):
        assert not await services.tokens.still_valid(value)
    # The injected clock decides: the wall clock (years before T0) would say valid.
    clock.advance(days=1)
    assert not await services.tokens.still_valid(f"Bearer {token}")


async def test_a_lifetime_must_be_positive(services: Services):
    for lifetime in (timedelta(0), timedelta(seconds=-1)):
        with pytest.raises(ValidationFailed):
            await services.tokens.create("acme", Role.EDITOR, "x", expires_in=lifetime)
    with pytest.raises(ValidationFailed):
        await services.tokens.create("acme", Role.EDITOR, "x", expires_in=timedelta.max)


async def test_listing_shows_states_never_secrets(services: Services, clock: ManualClock):
    active = await services.tokens.create("acme", Role.ADMIN, "ada")
    clock.advance(minutes=1)
    await services.tokens.create("acme", Role.EDITOR, "brief", expires_in=timedelta(minutes=30))
    clock.advance(minutes=1)
    await services.tokens.create("acme", Role.VIEWER, "vic")
    await services.tokens.revoke("acme", "vic")
    clock.advance(hours=1)

    infos = await services.tokens.list_tokens("acme")
    now = clock.now()
    assert [(i.name, i.role, i.state(now)) for i in infos] == [
        ("ada", Role.ADMIN, TokenState.ACTIVE),
        ("brief", Role.EDITOR, TokenState.EXPIRED),
        ("vic", Role.VIEWER, TokenState.REVOKED),
    ]
    table = token_table(infos, now)
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "CREATED", "EXPIRES", "REVOKED", "STATE"]
    assert lines[1].split() == ["ada", "admin", "2030-01-01T09:00:00Z", "never", "-", "active"]
    assert lines[2].split()[3] == "2030-01-01T09:31:00Z"
    assert lines[3].split()[4] == "2030-01-01T09:02:00Z"
    assert active not in table and "jrn_" not in table
    with pytest.raises(NotFound):
        await services.tokens.list_tokens("nowhere")


# -- the command line ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        (" 1d ", timedelta(days=1)),
        ("36500d", timedelta(days=36500)),
    ],
)
def test_durations_parse(text: str, expected: timedelta):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "30", "d", "-1d", "1.5h", "30s", "1w", "0d", "0m", "1d12h", "36501d", "9" * 12]
)
def test_bad_durations_are_refused_with_the_expected_form(text: str):
    with pytest.raises(argparse.ArgumentTypeError, match=r"30d|36500d|whole number"):
        parse_duration(text)


def test_days_parse():
    assert parse_days("30") == 30
    for bad in ("0", "-3", "x", "1.5", "36501"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_days(bad)


def test_a_bad_duration_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    args = ["token", "create", "--workspace", "acme", "--role", "editor", "--expires-in", "3x"]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "'3x' is not a duration" in capsys.readouterr().err


def test_the_token_commands(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    create = ["token", "create", "--workspace", "acme", "--role", "editor", "--name", "alice"]
    assert main([*create, "--expires-in", "30d"]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    assert token.startswith("jrn_")

    assert main(["token", "list", "--workspace", "acme"]) == 0
    listed = capsys.readouterr().out
    assert "alice" in listed and "editor" in listed and "active" in listed
    assert token not in listed

    assert main(["token", "revoke", "--workspace", "acme", "--name", "alice"]) == 0
    assert "revoked token 'alice'" in capsys.readouterr().out
    assert main(["token", "revoke", "--workspace", "acme", "--name", "alice"]) == 0
    assert "already revoked" in capsys.readouterr().out

    assert main(["token", "revoke", "--workspace", "acme", "--name", "nobody"]) == 2
    assert "has no token named 'nobody'" in capsys.readouterr().err
    assert main(["token", "list", "--workspace", "nowhere"]) == 2


def test_the_settings_command_prints_values_with_secrets_hidden(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
):
    monkeypatch.setenv("DATABASE_URL", "postgresql://bob:hunter2@db.example:5432/journeys")
    monkeypatch.setenv("JOURNEYS_PROCESSING_POLL_MS", "100")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "DATABASE_URL=postgresql://bob:***@db.example:5432/journeys" in out
    assert "hunter2" not in out
    assert "JOURNEYS_PROCESSING_POLL_MS=100  (default 250)" in out
    assert "JOURNEYS_SWEEP_SECONDS=5\n" in out and "mode: embedded" in out

    monkeypatch.setenv("JOURNEYS_WEBHOOK_MAX_ATTEMPTS", "50")
    assert main(["settings"]) == 2
    refused = capsys.readouterr().err
    assert "JOURNEYS_WEBHOOK_MAX_ATTEMPTS must be less than or equal to 20" in refused
