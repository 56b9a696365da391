"""Mode selection, and the deployment file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from service.settings import Mode, SettingsError
from tests.environment import settings_in

PG = "postgresql://u@db:5432/j"


@pytest.mark.parametrize(
    ("environ", "mode"),
    [
        ({}, Mode.EMBEDDED),
        ({"DATABASE_URL": "sqlite:///other.db"}, Mode.EMBEDDED),
        ({"DATABASE_URL": PG}, Mode.EMBEDDED),
        ({"DATABASE_URL": PG, "REDIS_URL": "redis://r:6379/0"}, Mode.DISTRIBUTED),
    ],
)
def test_mode_follows_the_urls(environ: dict[str, str], mode: Mode):
    assert settings_in(environ).mode is mode


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"REDIS_URL": "redis://r:6379/0"}, "set DATABASE_URL=postgresql://"),
        ({"REDIS_URL": "redis://r", "DATABASE_URL": "sqlite:///x.db"}, "set DATABASE_URL"),
        ({"REDIS_URL": "http://r", "DATABASE_URL": PG}, "REDIS_URL must start with redis://"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with"),
        ({"JOURNEYS_SWEEP_SECONDS": "0"}, "JOURNEYS_SWEEP_SECONDS"),
        ({"JOURNEYS_SWEEP_SECONDS": "soon"}, "JOURNEYS_SWEEP_SECONDS"),
        ({"JOURNEYS_WS_DEFLATE": "maybe"}, "JOURNEYS_WS_DEFLATE must be on or off"),
        ({"JOURNEYS_WS_OUTBOX_FRAMES": "-5"}, "JOURNEYS_WS_OUTBOX_FRAMES must be greater than 0"),
        ({"JOURNEYS_WS_PING_SECONDS": "0"}, "JOURNEYS_WS_PING_SECONDS must be greater than 0"),
    ],
)
def test_impossible_settings_are_refused_with_what_to_set(environ: dict[str, str], says: str):
    with pytest.raises(SettingsError, match=says.replace("(", r"\(")):
        settings_in(environ)


def test_websocket_settings_read_from_the_environment():
    defaults = settings_in({})
    assert (defaults.ws_deflate, defaults.ws_outbox_frames, defaults.ws_ping_seconds) == (
        False,
        10_000,
        20.0,
    )
    chosen = settings_in(
        {
            "JOURNEYS_WS_DEFLATE": "on",
            "JOURNEYS_WS_OUTBOX_FRAMES": "500",
            "JOURNEYS_WS_PING_SECONDS": "5",
            "JOURNEYS_TOKEN_RECHECK_SECONDS": "60",
        }
    )
    assert chosen.ws_deflate and chosen.ws_outbox_frames == 500
    assert (chosen.ws_ping_seconds, chosen.token_recheck_seconds) == (5.0, 60.0)


def test_compose_file_describes_the_distributed_shape():
    compose = yaml.safe_load((Path(__file__).parents[2] / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "api", "worker"}
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert environment["REDIS_URL"].startswith("redis://")
    assert services["worker"]["command"] == ["journeys", "worker"]
    assert services["worker"]["healthcheck"]["test"][-1] == "--check"


@pytest.mark.parametrize("command", [["serve"], ["worker"]])
def test_the_cli_refuses_at_start_and_says_what_to_set(command: list[str], tmp_path: Path):
    import os
    import subprocess
    import sys

    environ = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    environ.pop("DATABASE_URL", None)
    if command == ["worker"]:
        environ.pop("REDIS_URL")  # embedded settings: no worker to run
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *command],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "DATABASE_URL=postgresql://" in done.stderr
