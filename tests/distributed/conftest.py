"""Real processes around real services: `journeys serve` and `journeys worker`
subprocesses on PostgreSQL, and a private redis-server each test can flush,
stop and restart without touching anyone else's Redis.

Dates here are real and near (a few seconds ahead): arq defers jobs by the
wall clock, and the point is to see the real processes keep them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
SWEEP_SECONDS = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    """A redis-server of our own, on a free port, keeping nothing on disk."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(self.answers, 10, "redis-server to start")

    def answers(self) -> bool:
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def command(self, *words: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(
                (f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)).encode()
            )
            return sock.recv(65536).decode().strip().lstrip("+")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@dataclass
class Cluster:
    """PostgreSQL + private Redis, and the journeys processes a test starts."""

    database_url: str
    redis: RedisServer
    tmp: Path
    queue: str = field(default_factory=lambda: f"test:{uuid.uuid4().hex[:8]}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    token: str = ""
    # More settings for the processes started from now on.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "JOURNEYS_SWEEP_SECONDS": str(SWEEP_SECONDS),
            "JOURNEYS_QUEUE_NAME": self.queue,
            "PYTHONUNBUFFERED": "1",
            # No rate limit: the tests send as fast as they can (tests/e2e tests it).
            "JOURNEYS_MUTATION_RATE_LIMIT": "off",
            **self.settings,
        }

    def journeys(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def start_worker(self, *, wait: bool = True) -> subprocess.Popen[bytes]:
        """A `journeys worker`; with `wait`, once its health check passes (which takes
        a command of its own: a test that must catch the worker early waits for a sign
        of it in the database instead)."""
        process = self._spawn("worker", "worker")
        if wait:
            wait_until(lambda: self.journeys("worker", "--check").returncode == 0, 20, "a worker")
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> Path:
        """Where a process this cluster started writes its output."""
        index = self.processes.index(process)
        [path] = self.tmp.glob(f"*-{index}.log")
        return path

    def start_api(self) -> str:
        port = free_port()
        self._spawn("api", "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 20, "an API process")
        return base

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    # -- reading the truth from the database ----------------------------------

    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(query, params).fetchall()  # type: ignore[arg-type]

    def starts_per_journey(self) -> dict[str, int]:
        rows = self.sql(
            "SELECT journey_id, count(*) FROM status_events WHERE action = 'START' "
            "GROUP BY journey_id"
        )
        return {journey_id: count for journey_id, count in rows}


@pytest.fixture
def cluster(postgres_schema_url: str, tmp_path: Path) -> Iterator[Cluster]:
    from tests.conftest import TABLES

    with psycopg.connect(postgres_schema_url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    redis = RedisServer(tmp_path)
    redis.start()
    cluster = Cluster(postgres_schema_url, redis, tmp_path)
    made = cluster.journeys(
        "token", "create", "--workspace", "acme", "--role", "editor", "--name", "eddie"
    )
    assert made.returncode == 0, made.stderr
    cluster.token = made.stdout.strip().splitlines()[-1]
    try:
        yield cluster
    finally:
        cluster.stop_all()
        redis.stop()
