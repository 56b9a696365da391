"""Settings, read once from the environment at start (pydantic-settings).

Each setting is declared once, below: its type, default, bounds and what it is
for; its environment variable is JOURNEYS_ and its name in capitals, unless it
names another. `journeys settings` prints them with their values
(secrets hidden). A value that cannot work is refused at start with the
variable's name and what to set (SettingsError).

Settings in milliseconds or counts are named so (`..._MS`, `..._FRAMES`) and
kept in that unit; the `..._seconds` properties convert where code wants
seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.setting_values import CaFile, CommaSeparated, OptionalSwitch, RateLimits, Switch

# The prefix of every variable but those a setting names itself (DATABASE_URL, REDIS_URL).
ENV_PREFIX = "JOURNEYS_"


class SettingsError(ValueError):
    """A setting that cannot work; the message says what to set."""


class Mode(StrEnum):
    EMBEDDED = "embedded"  # one process: in-process bus and timer loop
    DISTRIBUTED = "distributed"  # many API processes and arq workers around Redis


class Settings(BaseSettings):
    # JOURNEYS_<FIELD NAME>, unless a field names its variable (`validation_alias`); an
    # empty variable counts as unset. No .env or secrets file is read (none is configured).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        frozen=True,
        populate_by_name=True,
        extra="ignore",
    )

    database_url: str = Field(
        "sqlite:///journeys.db",
        validation_alias="DATABASE_URL",
        description="sqlite:///path (embedded mode) or postgresql://... (either mode)",
    )
    redis_url: str | None = Field(
        None,
        validation_alias="REDIS_URL",
        description="redis://...: set, the mode is distributed (PostgreSQL required)",
    )
    timer_idle_seconds: float = Field(
        5.0,
        gt=0,
        description="the embedded timer wakes at least this often, to see dates other "
        "processes wrote",
    )
    sweep_seconds: int = Field(
        5,
        ge=1,
        le=60,
        description="how often workers sweep the database for late transitions",
    )
    processing_poll_ms: int = Field(
        250,
        gt=0,
        description="the step processor looks for due steps at least this often (it is "
        "also told of new work)",
    )
    counts_interval_ms: int = Field(
        500,
        gt=0,
        description="statusCountsChanged and journeyStatsChanged send at most one "
        "message per interval per subscriber",
    )
    queue_name: str = Field(
        "journeys:queue",
        min_length=1,
        description="the arq queue; another name keeps deployments apart on one Redis",
    )
    ws_outbox_frames: int = Field(
        10_000,
        gt=0,
        description="frames waiting for one WebSocket before it is closed with 4410 "
        "(a burst of a campaign's starts reaches a healthy dashboard whole; a stalled "
        "client holds at most this many)",
    )
    ws_outbox_bytes: int = Field(
        4 * 1024 * 1024,
        ge=64 * 1024,
        description="and at most this much of them (JSON text, about a byte a character): "
        "a stalled client costs no more memory however large the events",
    )
    feed_queue_events: int = Field(
        10_000,
        gt=0,
        description="status events that may wait for one subscription's execution (shared "
        "by the sockets asking the same); beyond, it is dropped and its sockets resume with "
        "`after`",
    )
    ws_ping_seconds: float = Field(
        20.0,
        gt=0,
        description="uvicorn pings every WebSocket this often and drops one that does not "
        "answer within as long",
    )
    ws_init_seconds: float = Field(
        10.0,
        gt=0,
        description="a WebSocket must send connection_init within this time of opening, "
        "on either protocol (closed with 4408)",
    )
    token_recheck_seconds: float = Field(
        30.0,
        gt=0,
        description="an open WebSocket checks its token again this often (4403 when "
        "revoked or expired)",
    )
    ws_deflate: Switch = Field(
        False,
        description="permessage-deflate on WebSockets; off: status frames are small, and "
        "compressing them costs a deflate state per connection and more CPU per send than "
        "it saves (bench/README.md, measured with bench/fanout.py)",
    )
    webhook_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="how long one webhook POST may take, connecting included",
    )
    webhook_max_attempts: int = Field(
        5,
        ge=1,
        le=20,
        description="attempts a webhook message gets before it has FAILED",
    )
    webhook_retry_seconds: float = Field(
        30.0,
        gt=0,
        description="the wait before a message's first retry, doubling after each further "
        "attempt (at most an hour)",
    )
    webhook_concurrency: int = Field(
        20,
        ge=1,
        le=200,
        description="webhook POSTs one process has under way at once",
    )
    smtp_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=120,
        description="how long each step of an SMTP session may take (connecting, each "
        "command, a message's data)",
    )
    smtp_ca_file: CaFile = Field(
        None,
        description="a PEM file of CA certificates the email channel trusts besides the "
        "system's (for SMTP servers with a private CA)",
    )
    event_retention_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="customers' tracked events are kept this many days (by when they "
        "happened), then deleted in batches by the worker (the API process in embedded mode)",
    )
    channel_failure_limit: int = Field(
        5,
        ge=1,
        description="a journey whose channel fails this many attempts in a row goes to ERROR",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="the largest HTTP request body (413 beyond, while it streams in); the "
        "audience upload has its own limit, JOURNEYS_MAX_UPLOAD_BYTES",
    )
    max_upload_bytes: int = Field(
        1 << 30,
        ge=1024,
        le=1 << 40,
        description="the largest audience-list upload, POST /journeys/{id}/audience (1 GiB: "
        "10 million ids of 100 characters); 413 beyond, while it streams in",
    )
    ws_max_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="the largest WebSocket message a client may send (closed with 1009 beyond)",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="a request's headers must arrive within this time (408), against "
        "clients trickling bytes",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="a request's body must arrive within this time of its headers (408)",
    )

    mutation_rate_limit: RateLimits = Field(
        "100/second;3000/minute",
        description="mutations one token may make, in the limits library's notation "
        "(every window must have room; off: no limit)",
    )
    public_schema: OptionalSwitch = Field(
        None,
        description="introspection and GraphiQL at /graphql (unset: on in embedded mode, "
        "off in distributed mode)",
    )
    cors_origins: CommaSeparated = Field(
        (),
        description="origins whose browser pages may call the API, comma-separated "
        "(none by default)",
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="json: one JSON object a line, with the request id (for log "
        "collectors); text: plain lines for a terminal",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="a worker serves its Prometheus metrics on this port (API processes "
        "serve them at /metrics)",
    )

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of this process's environment, or SettingsError naming the
        variable to fix."""
        try:
            return cls()
        except ValidationError as error:
            raise SettingsError(_what_to_set(error)) from None

    @model_validator(mode="after")
    def _urls_fit_together(self) -> Settings:
        scheme = self.database_url.split(":", 1)[0]
        if not scheme.startswith(("sqlite", "postgresql")):
            raise ValueError(
                f"DATABASE_URL must start with sqlite:/// or postgresql://, not {scheme}://"
            )
        if self.redis_url and not self.uses_postgresql:
            raise ValueError(
                "REDIS_URL is set, which means distributed mode, but DATABASE_URL is not a "
                "PostgreSQL database: set DATABASE_URL=postgresql://... too (many processes "
                "cannot share a SQLite file), or unset REDIS_URL to run embedded"
            )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://")):
            raise ValueError("REDIS_URL must start with redis:// or rediss://")
        return self

    @property
    def mode(self) -> Mode:
        return Mode.DISTRIBUTED if self.redis_url else Mode.EMBEDDED

    @property
    def uses_postgresql(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def schema_is_public(self) -> bool:
        if self.public_schema is not None:
            return self.public_schema
        return self.mode is Mode.EMBEDDED

    @property
    def processing_poll_seconds(self) -> float:
        return self.processing_poll_ms / 1000

    @property
    def counts_interval_seconds(self) -> float:
        return self.counts_interval_ms / 1000

    def described(self) -> Iterator[DescribedSetting]:
        """Every setting with its variable, value (secrets hidden), default and meaning."""
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            yield DescribedSetting(
                variable=variable(name),
                value=_shown(value),
                default=_shown(field.default),
                description=field.description or "",
            )


@dataclass(frozen=True)
class DescribedSetting:
    variable: str
    value: str
    default: str
    description: str


def _shown(value: Any) -> str:
    """A value as `journeys settings` prints it: a URL's password hidden."""
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            user = f"{parts.username}:***@" if parts.username else "***@"
            return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))
    return "" if value is None else str(value)


def variable(field_name: str) -> str:
    """The environment variable a setting is read from."""
    alias = Settings.model_fields[field_name].validation_alias
    return alias if isinstance(alias, str) else f"{ENV_PREFIX}{field_name.upper()}"


def _what_to_set(error: ValidationError) -> str:
    """Each refused value as '<VARIABLE> must ...' (the sentence pydantic gives, and
    what was found)."""
    variables = {name: variable(name) for name in Settings.model_fields}
    # A value is located by its field's name, or by its variable when that is the field's
    # alias (DATABASE_URL).
    variables |= {name: name for name in variables.values()}
    problems = []
    for problem in error.errors():
        location = problem["loc"]
        name = str(location[0]) if location else ""
        if name in variables:
            message = str(problem["msg"]).removeprefix("Value error, ").lower()
            message = message.replace("input should be", "must be")
            problems.append(f"{variables[name]} {message}, not {problem.get('input')!r}")
        else:  # a rule across settings: its own sentence
            problems.append(str(problem["msg"]).removeprefix("Value error, "))
    return "; ".join(problems)
