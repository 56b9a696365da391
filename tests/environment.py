"""Settings read from a given environment, as a process started with it would read them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from unittest import mock

from service.settings import ENV_PREFIX, Settings

# Variables the settings read besides JOURNEYS_*.
_UNPREFIXED = ("DATABASE_URL", "REDIS_URL")


def settings_in(environ: Mapping[str, str]) -> Settings:
    """`Settings.from_env()` with `environ` as the only settings variables set: those of
    the test run are left out meanwhile (SettingsError as at start)."""
    others = {name: value for name, value in os.environ.items() if not _reads(name)}
    with mock.patch.dict(os.environ, {**others, **environ}, clear=True):
        return Settings.from_env()


def _reads(name: str) -> bool:
    name = name.upper()  # pydantic-settings reads variables whatever their case
    return name.startswith(ENV_PREFIX) or name in _UNPREFIXED
