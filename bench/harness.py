"""The one harness every benchmark here runs on.

* a run: a temporary directory, the processes it started (each stopped by its own pid at the
  end, also on Ctrl-C, SIGTERM or an error), free ports, the event loop;
* the project: its sources (the repository, or `--project-source DIR`, e.g. a `git archive`
  of a commit), `journeys migrate`, `journeys token create`, `journeys serve`, the uvicorn
  options it serves with (`project_server_options`), a digest of the code measured;
* the peers (`peer_bare.py`, `peer_floor.py`), started with those same uvicorn options;
* databases: a fresh SQLite file, or a dedicated PostgreSQL database dropped and recreated;
  a private `redis-server`;
* the load generator: N workers, each on its own keep-alive client (httpx, or a minimal raw
  HTTP/1.1 client where httpx's own CPU would be the bottleneck), running a checked
  step for D seconds after a warm-up; latency percentiles, the server's CPU from /proc, how
  busy the machine was; py-spy of the server during the measured phase;
* the report: a table printer, ratios and goal lines, py-spy summaries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
SOURCE_PACKAGES = ("domain", "store", "service", "gql", "jobs", "cli")
JOURNEYS_CLI = Path(sys.executable).with_name("journeys")
PY_SPY = Path(sys.executable).with_name("py-spy")
QUIET = 0.1  # "a quiet machine": under 10 % busy

T = TypeVar("T")


# -- the event loop -------------------------------------------------------------------------


def run_loop(main_coroutine: Coroutine[Any, Any, T]) -> T:
    """On uvloop when installed (as uvicorn uses it), so the load generator costs less CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_coroutine)
    return uvloop.run(main_coroutine)


def loop_name() -> str:
    """The event loop `run_loop` runs on."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


# -- the machine ----------------------------------------------------------------------------


def machine_line(more: str = "") -> str:
    """The `machine:` line every report starts with."""
    return (
        f"machine: nproc={os.cpu_count()}, {platform.system()} {platform.release()}, "
        f"{platform.machine()}{more}"
    )


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of a process (all its threads), or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies over all cores since boot."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(value) for value in first[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_between(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Share of all cores busy between two `machine_ticks()`, 0..1."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


async def machine_busy_over(seconds: float) -> float | None:
    """How busy all cores are right now, sampled over `seconds`."""
    before = machine_ticks()
    await asyncio.sleep(seconds)
    return busy_between(before, machine_ticks())


async def wait_for_quiet(limit: float, threshold: float = QUIET) -> float | None:
    """Machine busy share over 1 s, sampled again (for up to `limit` s) until below threshold."""
    started = time.monotonic()
    said = -10.0
    busy = await machine_busy_over(1.0)
    while busy is not None and busy >= threshold and time.monotonic() - started < limit:
        if time.monotonic() - said >= 10:
            note(f"waiting for a quiet machine: {busy:.0%} busy")
            said = time.monotonic()
        busy = await machine_busy_over(1.0)
    return busy


def busy_line(busy: float | None) -> list[str]:
    """The `machine busy before start` line, if /proc told."""
    if busy is None:
        return []
    quiet = "" if busy < QUIET else "  WARNING: something else is using the CPU"
    return [f"machine busy before start: {busy:.0%}{quiet}"]


def vm_rss_kib(pid: int) -> int | None:
    """A process's resident memory, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def note(message: str) -> None:
    """Progress, on stderr: the report itself goes to stdout."""
    print(message, file=sys.stderr, flush=True)


# -- a run: options, its directory and processes ----------------------------------------------


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark run takes: wait for a quiet machine, keep the logs."""
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be under 10%% busy",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")


def add_database_options(parser: argparse.ArgumentParser, pg_database: str) -> None:
    parser.add_argument(
        "--database-url",
        help="postgresql://host:port/db to use PostgreSQL (db is only used to create the "
        "bench database); default: a SQLite file in a temporary directory",
    )
    parser.add_argument(
        "--pg-database",
        default=pg_database,
        help="PostgreSQL database to drop and recreate for the run",
    )


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """What the load-generating benchmarks (transitions.py, reads.py) take."""
    parser.add_argument("--workers", type=int, default=16, help="concurrent requests")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per path")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per path, not counted")
    parser.add_argument(
        "--rounds", type=int, default=1, help="times the paths alternate, summed in the report"
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample each server with py-spy (GIL holders only) during its measured phases; "
        "collapsed stacks go to DIR/roundN/<path>.txt and a summary into the report",
    )
    parser.add_argument(
        "--project-source",
        type=Path,
        default=REPO,
        metavar="DIR",
        help="run the project from these sources (e.g. a `git archive` of a commit) instead "
        "of the working tree",
    )
    parser.add_argument(
        "--sqlite-calls",
        choices=["direct", "thread"],
        default="direct",
        help="peers on SQLite: sqlite3 calls on the event loop, or one thread hop per transaction",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=16,
        help="peers' PostgreSQL connections (16: one per worker, no request waits for one)",
    )
    parser.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="raw",
        help="the load generator's HTTP client: httpx.AsyncClient, or harness.RawClient (a "
        "minimal HTTP/1.1 keep-alive client, for when httpx's CPU would be the bottleneck)",
    )
    add_run_options(parser)


@contextlib.contextmanager
def run_directory(name: str, keep: bool) -> Iterator[tuple[Path, Processes]]:
    """A temporary directory and the processes started in it: on any exit (SIGTERM included)
    every process is stopped, and the directory removed unless `keep`."""
    workdir = Path(tempfile.mkdtemp(prefix=f"journeys-{name}-"))
    processes = Processes()

    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield workdir, processes
    finally:
        processes.stop_all()
        signal.signal(signal.SIGTERM, previous)
        if keep:
            note(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_benchmark(
    benchmark: Callable[[Path, Processes], Coroutine[Any, Any, str]], *, keep: bool, name: str
) -> int:
    """Run an async benchmark in a run directory and print its report."""

    async def cancellable(workdir: Path, processes: Processes) -> str:
        # SIGTERM cancels the run like Ctrl-C does, so the servers are stopped either way.
        main_task = asyncio.current_task()
        assert main_task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
        return await benchmark(workdir, processes)

    with run_directory(name, keep) as (workdir, processes):
        try:
            output = run_loop(cancellable(workdir, processes))
        except (KeyboardInterrupt, asyncio.CancelledError):
            note("interrupted")
            return 130
    print(output)
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: 10,000 sockets need more than the usual 1,024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def die_with_parent() -> None:
    """In a child process: SIGTERM it when the benchmark that started it dies, even by
    SIGKILL, so no server is left behind."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the driver was already gone before prctl
        sys.exit(1)


def scan_log(log: Path) -> tuple[int, list[str]]:
    """Lines of a server's log that report an error, and the first few of them."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return 0, []
    marked = [line for line in lines if re.search(r"\bERROR\b|Traceback|Exception", line)]
    return len(marked), marked[:3]


def tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Processes:
    """The processes a benchmark started; `stop_all` ends them (each by its own pid)."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(
        self, name: str, command: list[str], env: dict[str, str], log: Path, cwd: Path = REPO
    ) -> int:
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches only the script, which stops them
            )
        self.running.append((name, process, log))
        return process.pid

    def pids(self, prefix: str) -> list[int]:
        return [process.pid for name, process, _ in self.running if name.startswith(prefix)]

    def check_alive(self) -> None:
        for name, process, log in self.running:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail(log)}")

    def stop(self, prefix: str, how: signal.Signals = signal.SIGTERM) -> None:
        chosen = [entry for entry in self.running if entry[0].startswith(prefix)]
        for _name, process, _log in chosen:
            if process.poll() is None:
                process.send_signal(how)
        for _name, process, _log in chosen:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.running = [entry for entry in self.running if entry not in chosen]

    def stop_all(self) -> None:
        self.stop("")


# -- the project -----------------------------------------------------------------------------


def code_fingerprint(source: Path = REPO) -> str:
    """Which server code ran: a digest of its sources and when the newest was saved."""
    digest = hashlib.sha256()
    newest = 0.0
    for package in SOURCE_PACKAGES:
        for path in sorted((source / package).rglob("*.py")):
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
            newest = max(newest, path.stat().st_mtime)
    saved = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(newest))
    where = "" if source == REPO else f" in {source}"
    return (
        f"sha256 {digest.hexdigest()[:12]} of {', '.join(SOURCE_PACKAGES)}{where} "
        f"(newest file {saved})"
    )


def project_env(database_url: str, source: Path = REPO, **more: str) -> dict[str, str]:
    """The environment of the project's processes: its database, and its sources first on the
    path when they are not the working tree's."""
    # No rate limit: a benchmark is one token sending as fast as the server answers.
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        "JOURNEYS_MUTATION_RATE_LIMIT": "off",
        **more,
    }
    if source != REPO:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    return env


def run_cli(arguments: list[str], env: dict[str, str], source: Path = REPO) -> str:
    done = subprocess.run(
        [str(JOURNEYS_CLI), *arguments], env=env, cwd=source, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"journeys {' '.join(arguments)} failed:\n{done.stderr}")
    return done.stdout


def create_token(env: dict[str, str], workspace: str, role: str, source: Path = REPO) -> str:
    created = run_cli(["token", "create", "--workspace", workspace, "--role", role], env, source)
    return created.strip().splitlines()[-1]


_SERVER_OPTIONS = (
    "import json; from gql.app import server_options; from service.settings import Settings; "
    "print(json.dumps(server_options(Settings.from_env())))"
)


def project_server_options(env: dict[str, str], source: Path = REPO) -> dict[str, Any]:
    """The uvicorn options `journeys serve` uses (besides host, port and log_level="info"),
    asked of the project in a subprocess, so that the peers get the same without importing it."""
    done = subprocess.run(
        [sys.executable, "-c", _SERVER_OPTIONS], env=env, cwd=source, capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"could not read the project's server options:\n{done.stderr}")
    options: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return options


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    pid: int
    log: Path


async def wait_healthy(base_url: str, processes: Processes, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            processes.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base_url}/healthz did not answer within {timeout:.0f} s")


# -- databases and Redis ------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    url: str  # DATABASE_URL for the servers
    description: str

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def label(self) -> str:
        return "SQLite" if self.is_sqlite else "PostgreSQL"


def recreate_postgres(url: str, name: str) -> tuple[str, str]:
    """Drop and recreate database `name` on the server of `url` (its own database is used only
    to run the DROP and CREATE); returns (the new database's URL, the server's version)."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        version = connection.execute("SHOW server_version").fetchone()
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    fresh = parsed.set(drivername="postgresql", database=name)
    return fresh.render_as_string(hide_password=False), str(version[0] if version else "?")


def postgres_value(url: str, sql: str) -> str:
    """The first column of the first row `sql` answers on the database of `url`."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
    return "" if row is None else str(row[0])


def fresh_database(requested: str | None, pg_database: str, workdir: Path) -> Database:
    """A new SQLite file in `workdir`, or PostgreSQL database `pg_database` dropped and
    recreated on the server `requested` names."""
    import sqlite3

    if requested is None or requested.startswith("sqlite"):
        path = workdir / "bench.db"
        return Database(f"sqlite:///{path}", f"sqlite {sqlite3.sqlite_version} (file, WAL)")
    if not requested.startswith(("postgresql://", "postgres://")):
        raise SystemExit("--database-url must be sqlite:///... or postgresql://...")
    url, version = recreate_postgres(requested, pg_database)
    return Database(url, f"postgresql {version} (database {pg_database!r})")


def start_redis(processes: Processes, workdir: Path) -> tuple[str, Any]:
    """A private redis-server (own port, nothing on disk): (its URL, a client of it)."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not on PATH: it is needed for a private Redis")
    port = free_port()
    data = workdir / "redis"
    data.mkdir()
    command = [
        server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(data),
    ]  # fmt: skip
    processes.start("redis-server", command, dict(os.environ), workdir / "redis.log")
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return url, client
        except redis.ConnectionError:
            processes.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the private redis-server did not answer within 10 s") from None
            time.sleep(0.05)


# -- a prepared project and its servers ---------------------------------------------------------


@dataclass
class Setup:
    """A migrated database, a token, and what the servers are started with."""

    database: Database
    source: Path
    env: dict[str, str]  # the project's processes'
    token: str
    uvicorn_options: dict[str, Any]
    workdir: Path
    processes: Processes

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def prepare(
    args: argparse.Namespace, workdir: Path, processes: Processes, role: str = "editor"
) -> Setup:
    """Fresh database (`--database-url`, `--pg-database`), `journeys migrate`, a token with
    `role` in workspace `bench`; the project from `--project-source` if the script has it."""
    source = Path(getattr(args, "project_source", REPO)).resolve()
    database = fresh_database(args.database_url, args.pg_database, workdir)
    env = project_env(database.url, source)
    run_cli(["migrate"], env, source)
    token = create_token(env, "bench", role, source)
    options = project_server_options(env, source)
    return Setup(database, source, env, token, options, workdir, processes)


async def start_project(setup: Setup, name: str = "project") -> Server:
    port = free_port()
    command = [str(JOURNEYS_CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = setup.workdir / f"{name}.log"
    pid = setup.processes.start(name, command, setup.env, log, cwd=setup.source)
    server = Server(name, f"http://127.0.0.1:{port}", pid, log)
    await wait_healthy(server.url, setup.processes)
    return server


async def start_peer(setup: Setup, peer: str, args: argparse.Namespace) -> Server:
    """`bench/peer_<peer>.py` on a free port, on the same database, with the project server's
    uvicorn options; its environment has no path to the project's sources."""
    port = free_port()
    command = [
        sys.executable, str(BENCH / f"peer_{peer}.py"), "--host", "127.0.0.1", "--port", str(port),
        "--database-url", setup.database.url, "--uvicorn-options",
        json.dumps(setup.uvicorn_options), "--sqlite-calls", args.sqlite_calls, "--pool-size",
        str(args.pool_size),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    log = setup.workdir / f"{peer}.log"
    pid = setup.processes.start(peer, command, env, log, cwd=BENCH)
    server = Server(peer, f"http://127.0.0.1:{port}", pid, log)
    await wait_healthy(server.url, setup.processes)
    return server


# -- asking the servers ---------------------------------------------------------------------------


class Failed(RuntimeError):
    """A response that was not the expected one."""


class Response(Protocol):
    """What the benchmarks read of a response (httpx.Response has it, so has RawResponse)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class Client(Protocol):
    """What the benchmarks ask of a client: httpx.AsyncClient, or RawClient."""

    async def post(self, url: str, *, json: Any = None) -> Response: ...

    async def get(self, url: str, *, params: dict[str, Any] | None = None) -> Response: ...


@dataclass(frozen=True, slots=True)
class RawResponse:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class RawClient:
    """The least a keep-alive HTTP/1.1 client can do: one asyncio connection, the request
    written in one go, the response read by its Content-Length. A tenth or less of httpx's
    CPU per request, for when httpx (about 0.8 ms of CPU per request) would be the bottleneck
    (`--client raw`). Not a general client: no redirects, no chunked bodies, no TLS."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        host_port = base_url.split("//", 1)[1].split("/", 1)[0]
        self.host, _, port = host_port.rpartition(":")
        self.port = int(port)
        self.timeout = timeout
        fixed = {"Host": host_port, "User-Agent": "journeys-bench", **headers}
        self._head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def post(self, url: str, *, json: Any = None) -> Response:
        body = _json_bytes(json)
        return await self._request("POST", url, body, "Content-Type: application/json\r\n")

    async def get(self, url: str, *, params: dict[str, Any] | None = None) -> Response:
        if params:
            from urllib.parse import urlencode

            url = f"{url}?{urlencode(params)}"
        return await self._request("GET", url, b"", "")

    async def _request(self, method: str, url: str, body: bytes, more: str) -> RawResponse:
        try:
            async with asyncio.timeout(self.timeout):
                if self._writer is None or self._reader is None:
                    self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                length = f"Content-Length: {len(body)}\r\n\r\n"
                head = f"{method} {url} HTTP/1.1\r\n{self._head}{more}{length}"
                self._writer.write(head.encode() + body)
                return await self._read(self._reader)
        except BaseException:
            await self.aclose()  # the connection is in an unknown state: start afresh
            raise

    async def _read(self, reader: asyncio.StreamReader) -> RawResponse:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise Failed(f"RawClient reads no {value.strip()} bodies")
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        content = await reader.readexactly(length) if length else b""
        if close:
            await self.aclose()
        return RawResponse(status, content)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def open_client(kind: str, base_url: str, headers: dict[str, str], timeout: float = 30.0) -> Any:
    """A load generator's client: `httpx` (one keep-alive connection) or `raw` (RawClient);
    an async context manager either way."""
    if kind == "raw":
        return RawClient(base_url, headers, timeout)
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        trust_env=False,
    )


async def graphql(client: Client, query: str, variables: dict[str, Any]) -> Any:
    """POST a document to /graphql; its `data`, or Failed on an HTTP error or any GraphQL error."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    if response.status_code != 200:
        raise Failed(f"HTTP {response.status_code}: {response.text[:200]}")
    payload = response.json()
    if payload.get("errors"):
        raise Failed(str(payload["errors"])[:300])
    return payload["data"]


TRANSITIONS = {
    "pause": "mutation($id: ID!) { pauseJourney(id: $id) { id status revision } }",
    "resume": "mutation($id: ID!) { resumeJourney(id: $id) { id status revision } }",
    "activate": "mutation($id: ID!) { activateJourney(id: $id) { id status revision } }",
}
JOURNEY = "query($id: ID!) { journey(id: $id) { id name status revision availableActions } }"
JOURNEYS = (
    "query($first: Int) { journeys(first: $first) { totalCount "
    "edges { node { id name status labels availableActions } } } }"
)
CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id status } }"


class Api(Protocol):
    """One server's way of being asked: the same questions, the answers in one shape."""

    async def transition(self, client: Client, journey_id: str, action: str) -> dict[str, Any]: ...

    async def journey(self, client: Client, journey_id: str) -> dict[str, Any] | None: ...

    async def journeys(self, client: Client, first: int) -> dict[str, Any]: ...

    async def create(self, client: Client, given: dict[str, Any]) -> dict[str, Any]: ...


class GraphQLApi:
    """The project and the floor: the same documents to both."""

    async def transition(self, client: Client, journey_id: str, action: str) -> dict[str, Any]:
        data = await graphql(client, TRANSITIONS[action], {"id": journey_id})
        answer: dict[str, Any] = data[f"{action}Journey"]
        return answer

    async def journey(self, client: Client, journey_id: str) -> dict[str, Any] | None:
        answer: dict[str, Any] | None = (await graphql(client, JOURNEY, {"id": journey_id}))[
            "journey"
        ]
        return answer

    async def journeys(self, client: Client, first: int) -> dict[str, Any]:
        answer: dict[str, Any] = (await graphql(client, JOURNEYS, {"first": first}))["journeys"]
        return answer

    async def create(self, client: Client, given: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = (await graphql(client, CREATE, {"input": given}))["createJourney"]
        return answer


class BareApi:
    """The bare peer's JSON routes (peer_bare.py)."""

    @staticmethod
    def _json(response: Response) -> Any:
        if response.status_code != 200:
            raise Failed(f"HTTP {response.status_code}: {response.text[:200]}")
        return response.json()

    async def transition(self, client: Client, journey_id: str, action: str) -> dict[str, Any]:
        body = {"id": journey_id, "action": action}
        answer: dict[str, Any] = self._json(await client.post("/transition", json=body))
        return answer

    async def journey(self, client: Client, journey_id: str) -> dict[str, Any] | None:
        response = await client.get(f"/journeys/{journey_id}")
        if response.status_code == 404:
            return None
        answer: dict[str, Any] = self._json(response)
        return answer

    async def journeys(self, client: Client, first: int) -> dict[str, Any]:
        answer: dict[str, Any] = self._json(await client.get("/journeys", params={"first": first}))
        return answer

    async def create(self, client: Client, given: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._json(await client.post("/journeys", json=given))
        return answer


def api_of(path: str) -> Api:
    return BareApi() if path == "bare" else GraphQLApi()


def journey_input(name: str, labels: Sequence[str] = ()) -> dict[str, Any]:
    """A complete draft: EVENT_TRIGGERED on `signup`, one SEND step, no dates."""
    return {
        "name": name,
        "kind": "EVENT_TRIGGERED",
        "triggerEvent": "signup",
        "steps": [{"type": "SEND", "channel": "log", "template": "t"}],
        "labels": list(labels),
    }


async def create_journeys(
    server: Server,
    headers: dict[str, str],
    names: Sequence[str],
    *,
    labels: Callable[[int], Sequence[str]] = lambda _n: (),
    statuses: Callable[[int], str] = lambda _n: "ACTIVE",
    concurrency: int = 8,
) -> list[str]:
    """Create journeys over the project's GraphQL API and bring each to its status (DESIGNING,
    ACTIVE or PAUSED); their ids in the order of `names`."""
    api = GraphQLApi()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=60.0, trust_env=False
    ) as client:

        async def one(number: int, name: str) -> str:
            async with gate:
                journey_id = str(
                    (await api.create(client, journey_input(name, labels(number))))["id"]
                )
                moves = {"DESIGNING": [], "ACTIVE": ["activate"], "PAUSED": ["activate", "pause"]}
                for action in moves[statuses(number)]:
                    status = (await api.transition(client, journey_id, action))["status"]
                    if status != ("PAUSED" if action == "pause" else "ACTIVE"):
                        raise RuntimeError(f"journey {journey_id} is {status} after {action}")
                return journey_id

        return list(await asyncio.gather(*(one(n, name) for n, name in enumerate(names))))


# -- the load generator ------------------------------------------------------------------------

Step = Callable[[Client], Awaitable[None]]  # one checked operation; raises on a bad one


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


@dataclass
class Phase:
    """What one path did under load (one measured phase, or several rounds added up)."""

    path: str
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    server_cpu: float | None = 0.0  # seconds of the server process (all its threads)
    client_cpu: float = 0.0  # seconds of this process, the load generator
    ticks: tuple[int, int] | None = (0, 0)  # (busy, total) jiffies, all cores
    stacks: list[Path] = field(default_factory=list)  # py-spy outputs

    def add(self, other: Phase) -> None:
        """Fold in another round of the same path."""
        self.elapsed += other.elapsed
        self.latencies += other.latencies
        self.errors += other.errors
        self.error_samples = sorted({*self.error_samples, *other.error_samples})[:5]
        self.stacks += other.stacks
        self.client_cpu += other.client_cpu
        if self.server_cpu is None or other.server_cpu is None:
            self.server_cpu = None
        else:
            self.server_cpu += other.server_cpu
        if self.ticks is None or other.ticks is None:
            self.ticks = None
        else:
            self.ticks = (self.ticks[0] + other.ticks[0], self.ticks[1] + other.ticks[1])

    def failed(self, error: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            sample = f"{type(error).__name__}: {error}"[:300]
            if sample not in self.error_samples:
                self.error_samples.append(sample)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, share: float) -> float:
        return percentile(self.latencies, share) * 1000

    @property
    def cpu_ms_per_operation(self) -> float | None:
        if self.server_cpu is None or not self.latencies:
            return None
        return self.server_cpu * 1000 / len(self.latencies)

    @property
    def server_cores(self) -> float | None:
        """The server's CPU time over the phase's: 1.0 is one core all the time."""
        if self.server_cpu is None or not self.elapsed:
            return None
        return self.server_cpu / self.elapsed

    @property
    def client_cores(self) -> float | None:
        return self.client_cpu / self.elapsed if self.elapsed else None

    @property
    def machine_busy(self) -> float | None:
        if self.ticks is None or self.ticks[1] == 0:
            return None
        return self.ticks[0] / self.ticks[1]


CHECKED = (Failed, httpx.HTTPError, OSError, EOFError, TimeoutError, KeyError, ValueError,
           TypeError, IndexError)  # fmt: skip


async def _loop(client: Client, step: Step, deadline: float, phase: Phase | None) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            await step(client)
        except CHECKED as error:
            if phase is not None:
                phase.failed(error)
            await asyncio.sleep(0.001)  # a failing server is not spun on
            continue
        if phase is not None:
            phase.latencies.append(time.perf_counter() - started)


async def _run(clients: Sequence[Client], steps: Sequence[Step], seconds: float,
               phase: Phase | None) -> None:  # fmt: skip
    deadline = time.perf_counter() + seconds
    async with asyncio.TaskGroup() as group:
        for client, step in zip(clients, steps, strict=True):
            group.create_task(_loop(client, step, deadline, phase))


def start_py_spy(output: Path, pid: int, duration: float) -> subprocess.Popen[bytes]:
    """py-spy record of `pid` for `duration` s: GIL holders only (Python CPU), collapsed stacks."""
    if not PY_SPY.exists():
        raise SystemExit(
            f"--py-spy needs py-spy: {PY_SPY} is missing (.venv/bin/pip install py-spy)"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(PY_SPY), "record", "--pid", str(pid), "--gil", "--nonblocking", "--format", "raw",
        "--duration", str(max(1, round(duration))), "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def measure(
    path: str,
    server: Server,
    headers: dict[str, str],
    steps: Sequence[Step],
    *,
    duration: float,
    warmup: float,
    py_spy: Path | None = None,
    client: str = "httpx",
) -> Phase:
    """One worker per step, each on its own keep-alive client (`client`: httpx or raw):
    `warmup` seconds not counted, then `duration` seconds measured (with py-spy on the server
    into `py_spy`, if given)."""
    phase = Phase(path)
    async with contextlib.AsyncExitStack() as stack:
        clients: list[Client] = [
            await stack.enter_async_context(open_client(client, server.url, headers)) for _ in steps
        ]
        if warmup > 0:
            await _run(clients, steps, warmup, None)
        profiler = start_py_spy(py_spy, server.pid, duration) if py_spy else None
        cpu_before, ticks_before = process_cpu_seconds(server.pid), machine_ticks()
        started, client_before = time.perf_counter(), time.process_time()
        await _run(clients, steps, duration, phase)
        phase.elapsed = time.perf_counter() - started
        phase.client_cpu = time.process_time() - client_before
        cpu_after, ticks_after = process_cpu_seconds(server.pid), machine_ticks()
    if profiler is not None and py_spy is not None:
        await asyncio.to_thread(profiler.wait)
        phase.stacks.append(py_spy)
    phase.server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    phase.ticks = (
        None
        if ticks_before is None or ticks_after is None
        else (ticks_after[0] - ticks_before[0], ticks_after[1] - ticks_before[1])
    )
    return phase


# -- reports -----------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "n/a" if value is None or value != value else format(value, spec)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as wide as their widest cell; the first left-aligned, the others right."""
    widths = [max(len(str(row[n])) for row in [header, *rows]) for n in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(cell).ljust(width) if n == 0 else str(cell).rjust(width)
            for n, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def phase_table(phases: Sequence[Phase], unit: str, short: str) -> str:
    """The figures of each path: `unit`/s (transitions/s), latency, errors, CPU per `short`."""
    header = ["path", f"{unit}/s", "p50 ms", "p99 ms", "errors", "ok",
              f"server CPU ms/{short}", "server cores", "client cores", "machine busy"]  # fmt: skip
    rows = [
        [
            phase.path,
            f"{phase.throughput:.1f}",
            fmt(phase.percentile_ms(0.50), ".2f"),
            fmt(phase.percentile_ms(0.99), ".2f"),
            str(phase.errors),
            str(len(phase.latencies)),
            fmt(phase.cpu_ms_per_operation, ".2f"),
            fmt(phase.server_cores, ".2f"),
            fmt(phase.client_cores, ".2f"),
            fmt(phase.machine_busy, ".0%"),
        ]
        for phase in phases
    ]
    return table(header, rows)


def ratio(project: Phase, peer: Phase) -> float:
    return project.throughput / peer.throughput if peer.throughput else float("nan")


def ratio_lines(project: Phase, peers: Sequence[Phase]) -> list[str]:
    """project/peer throughput, and peer/project server CPU per operation (which other load on
    the machine moves less)."""
    lines = []
    for peer in peers:
        mine, theirs = project.cpu_ms_per_operation, peer.cpu_ms_per_operation
        cpu = (
            f"; server CPU per operation {peer.path}/{project.path}: {theirs / mine:.2f}"
            if (mine and theirs)
            else ""
        )
        lines.append(
            f"ratio {project.path}/{peer.path} throughput: {ratio(project, peer):.2f}{cpu}"
        )
    return lines


def goal_line(text: str, value: float, at_least: float) -> str:
    met = "met" if value >= at_least else "NOT met"
    return f"goal: {text} >= {at_least:g}x  ({value:.2f}: {met})"


def error_lines(phases: Sequence[Phase]) -> list[str]:
    return [f"{phase.path} error sample: {sample}" for phase in phases
            for sample in phase.error_samples[:3]]  # fmt: skip


@dataclass
class Stacks:
    """py-spy collapsed stacks, added up."""

    total: int = 0
    leaves: Counter[str] = field(default_factory=Counter)  # innermost frame (self time)
    packages: Counter[str] = field(default_factory=Counter)  # the innermost frame's package
    through: Counter[str] = field(default_factory=Counter)  # stacks with a frame of the package
    ours: Counter[str] = field(default_factory=Counter)  # innermost frame of `own` packages


EVENT_LOOP = "Runner.run (asyncio/runners.py"


def package_of(frame: str) -> str:
    """`function (package/module.py:line)` -> package (a top-level module's name, or "?")."""
    found = re.search(r"\(([^/)]+)", frame)
    return found.group(1).removesuffix(".py") if found else "?"


def read_stacks(raws: Sequence[Path], own: Sequence[str] = SOURCE_PACKAGES[:-1]) -> Stacks:
    """Frames look like `function (package/module.py:line)`; line numbers are dropped."""
    stacks = Stacks()
    pattern = re.compile(r"\((" + "|".join(map(re.escape, own)) + r")/")
    for raw in raws:
        try:
            text = raw.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            stacks.total += count
            stacks.leaves[frames[-1]] += count
            stacks.packages[package_of(frames[-1])] += count
            # Below the event loop's own frame every stack is the same (the entry point,
            # uvicorn.run, asyncio.run): count only what runs above it.
            loop = max((n for n, frame in enumerate(frames) if frame.startswith(EVENT_LOOP)),
                       default=-1)  # fmt: skip
            for package in {package_of(frame) for frame in frames[loop + 1 :]}:
                stacks.through[package] += count
            mine = [frame for frame in frames if pattern.search(frame)]
            stacks.ours[mine[-1] if mine else "(no project frame)"] += count
    return stacks


def stacks_report(path: str, raws: Sequence[Path], top: int = 8) -> list[str]:
    """Where a server's Python time went: by package and function of the innermost frame."""
    stacks = read_stacks(raws)
    if not stacks.total:
        return [f"py-spy {path}: no samples"]

    def share(count: int) -> str:
        return f"{count / stacks.total:5.1%}"

    lines = [f"py-spy {path}: {stacks.total} samples (GIL held); self time by package:"]
    lines.append("    " + ", ".join(
        f"{name} {count / stacks.total:.0%}" for name, count in stacks.packages.most_common(top)
    ))  # fmt: skip
    lines.append("  inclusive (share of samples with a frame of the package above the loop):")
    lines.append("    " + ", ".join(
        f"{name} {count / stacks.total:.0%}" for name, count in stacks.through.most_common(top + 4)
    ))  # fmt: skip
    lines.append("  hottest functions (self):")
    lines += [f"    {share(c)}  {name[:110]}" for name, c in stacks.leaves.most_common(top)]
    lines.append("  innermost project frame:")
    lines += [f"    {share(c)}  {name[:110]}" for name, c in stacks.ours.most_common(top)]
    return lines


def facts(setup: Setup, busy_before: float | None, settings: str) -> list[str]:
    """The lines a load benchmark's report starts with."""
    from importlib.metadata import version

    import starlette
    import strawberry  # noqa: F401
    import uvicorn

    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        machine_line(f"; load average {os.getloadavg()[0]:.2f}"),
        f"python: {platform.python_implementation()} {platform.python_version()}, load "
        f"generator on {loop_name()}, httpx {httpx.__version__}, uvicorn {uvicorn.__version__}, "
        f"starlette {starlette.__version__}, strawberry-graphql {version('strawberry-graphql')}",
        f"database: {setup.database.description}",
        f"server code: {code_fingerprint(setup.source)}",
        f"uvicorn options (all servers): log_level=info, {setup.uvicorn_options}",
        *busy_line(busy_before),
        settings,
    ]
