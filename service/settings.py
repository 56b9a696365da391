"""Settings, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class SettingsError(ValueError):
    """A setting that cannot work; the message says what to set."""


class Mode(StrEnum):
    EMBEDDED = "embedded"  # one process: in-process bus and timer loop
    DISTRIBUTED = "distributed"  # many API processes and arq workers around Redis


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///journeys.db"
    redis_url: str | None = None
    # The embedded timer wakes at least this often even with nothing planned,
    # so a date written by another process is seen in time.
    timer_idle_seconds: float = 5.0
    # How often workers sweep the database for late transitions (whole seconds, 1 to 60).
    sweep_seconds: int = 5
    # The step processor looks for due steps and messages at least this often
    # (it is also woken when customers enter through its own process).
    processing_poll_seconds: float = 0.25
    # statusCountsChanged sends at most one message per interval per subscriber.
    counts_interval_seconds: float = 0.5
    # The arq queue; a separate name keeps several deployments apart on one Redis.
    queue_name: str = "journeys:queue"
    # Frames waiting to be written to one WebSocket; a client that lets more
    # pile up is disconnected with 4410 and resumes with `after`. Large enough
    # that a burst (a campaign of thousands of journeys starting at the same
    # second) reaches a healthy dashboard whole: a disconnected one replays
    # on its own, executed for it alone, which costs far more than queueing.
    # A stalled client holds at most this many frames (about 3 MB).
    ws_outbox_frames: int = 10_000
    # uvicorn pings every WebSocket this often and drops one that does not
    # answer within the same time: a dead network is noticed, not waited on.
    ws_ping_seconds: float = 20.0
    # An open WebSocket checks its token again this often; a revoked or
    # expired token closes it with 4403.
    token_recheck_seconds: float = 30.0
    # permessage-deflate on WebSockets. Off: status frames are a few hundred
    # bytes, and compressing them was measured to cost about 40 KiB of
    # memory per connection and half again the CPU of each send.
    ws_deflate: bool = False
    # The webhook channel: how long one POST may take (connecting included),
    # how many attempts a message gets before it has FAILED, the wait before the
    # first retry (doubling after each further attempt, at most an hour), and
    # how many POSTs one process has under way at once.
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 5
    webhook_retry_seconds: float = 30.0
    webhook_concurrency: int = 20
    # A journey whose channel fails this many attempts in a row goes to ERROR.
    channel_failure_limit: int = 5
    # The largest HTTP request body read (413 beyond it, refused while it
    # streams in); the audience upload has its own limit (gql/limits.py).
    max_body_bytes: int = 1024 * 1024
    # The largest WebSocket message a client may send (uvicorn closes the
    # socket with 1009 beyond it).
    ws_max_bytes: int = 1024 * 1024
    # A client must send a request's headers within this time of starting
    # it, and its body within this time of the headers (408 otherwise): a
    # client trickling bytes (slowloris) cannot hold a connection open.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        settings = cls(
            database_url=environ.get("DATABASE_URL") or cls.database_url,
            redis_url=environ.get("REDIS_URL") or None,
            timer_idle_seconds=_number(environ, "JOURNEYS_TIMER_IDLE_SECONDS", 5.0),
            sweep_seconds=int(_number(environ, "JOURNEYS_SWEEP_SECONDS", 5)),
            processing_poll_seconds=_number(environ, "JOURNEYS_PROCESSING_POLL_MS", 250) / 1000,
            queue_name=environ.get("JOURNEYS_QUEUE_NAME") or cls.queue_name,
            counts_interval_seconds=_number(environ, "JOURNEYS_COUNTS_INTERVAL_MS", 500) / 1000,
            ws_outbox_frames=int(_number(environ, "JOURNEYS_WS_OUTBOX_FRAMES", 10_000)),
            ws_ping_seconds=_number(environ, "JOURNEYS_WS_PING_SECONDS", 20.0),
            token_recheck_seconds=_number(environ, "JOURNEYS_TOKEN_RECHECK_SECONDS", 30.0),
            ws_deflate=_switch(environ, "JOURNEYS_WS_DEFLATE"),
            webhook_timeout_seconds=_number(environ, "JOURNEYS_WEBHOOK_TIMEOUT_SECONDS", 5.0),
            webhook_max_attempts=_whole(environ, "JOURNEYS_WEBHOOK_MAX_ATTEMPTS", 5),
            webhook_retry_seconds=_number(environ, "JOURNEYS_WEBHOOK_RETRY_SECONDS", 30.0),
            webhook_concurrency=_whole(environ, "JOURNEYS_WEBHOOK_CONCURRENCY", 20),
            channel_failure_limit=_whole(environ, "JOURNEYS_CHANNEL_FAILURE_LIMIT", 5),
            max_body_bytes=_whole(environ, "JOURNEYS_MAX_BODY_BYTES", cls.max_body_bytes),
            ws_max_bytes=_whole(environ, "JOURNEYS_WS_MAX_BYTES", cls.ws_max_bytes),
            header_timeout_seconds=_number(environ, "JOURNEYS_HEADER_TIMEOUT_SECONDS", 10.0),
            body_timeout_seconds=_number(environ, "JOURNEYS_BODY_TIMEOUT_SECONDS", 30.0),
        )
        settings.check()
        return settings

    @property
    def mode(self) -> Mode:
        return Mode.DISTRIBUTED if self.redis_url else Mode.EMBEDDED

    @property
    def uses_postgresql(self) -> bool:
        return self.database_url.startswith("postgresql")

    def check(self) -> None:
        scheme = self.database_url.split(":", 1)[0]
        if not scheme.startswith(("sqlite", "postgresql")):
            raise SettingsError(
                f"DATABASE_URL must start with sqlite:/// or postgresql://, not {scheme}://"
            )
        if self.redis_url and not self.uses_postgresql:
            raise SettingsError(
                "REDIS_URL is set, which means distributed mode, but DATABASE_URL is not a "
                "PostgreSQL database: set DATABASE_URL=postgresql://... too (many processes "
                "cannot share a SQLite file), or unset REDIS_URL to run embedded"
            )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://")):
            raise SettingsError("REDIS_URL must start with redis:// or rediss://")
        if not 1 <= self.sweep_seconds <= 60:
            raise SettingsError("JOURNEYS_SWEEP_SECONDS must be a whole number from 1 to 60")
        if not 0 < self.webhook_timeout_seconds <= 60:
            raise SettingsError(
                "JOURNEYS_WEBHOOK_TIMEOUT_SECONDS must be more than 0 and at most 60 seconds"
            )
        if not 1 <= self.webhook_max_attempts <= 20:
            raise SettingsError("JOURNEYS_WEBHOOK_MAX_ATTEMPTS must be a whole number from 1 to 20")
        if not 1 <= self.webhook_concurrency <= 200:
            raise SettingsError("JOURNEYS_WEBHOOK_CONCURRENCY must be a whole number from 1 to 200")
        if self.channel_failure_limit < 1:
            raise SettingsError("JOURNEYS_CHANNEL_FAILURE_LIMIT must be a whole number, 1 or more")
        if self.max_body_bytes < 1024:
            raise SettingsError("JOURNEYS_MAX_BODY_BYTES must be a whole number, 1024 or more")
        if self.ws_max_bytes < 1024:
            raise SettingsError("JOURNEYS_WS_MAX_BYTES must be a whole number, 1024 or more")


def _switch(environ: Mapping[str, str], name: str) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "off", "no"):
        return False
    if raw in ("1", "true", "on", "yes"):
        return True
    raise SettingsError(f"{name} must be on or off, not {raw!r}")


def _whole(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value
