"""Settings, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A setting that cannot work; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///journeys.db"
    redis_url: str | None = None
    # The embedded timer wakes at least this often even with nothing planned,
    # so a date written by another process is seen in time.
    timer_idle_seconds: float = 5.0
    max_page_size: int = 100
    history_default: int = 50

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        settings = cls(
            database_url=environ.get("DATABASE_URL") or cls.database_url,
            redis_url=environ.get("REDIS_URL") or None,
            timer_idle_seconds=_number(environ, "JOURNEYS_TIMER_IDLE_SECONDS", 5.0),
        )
        settings.check()
        return settings

    def check(self) -> None:
        scheme = self.database_url.split(":", 1)[0]
        if not scheme.startswith(("sqlite", "postgresql")):
            raise SettingsError(
                f"DATABASE_URL must start with sqlite:/// or postgresql://, not {scheme}://"
            )
        if self.redis_url:
            raise SettingsError(
                "REDIS_URL is set, but distributed mode is not available in this version; "
                "unset REDIS_URL to run embedded"
            )


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
