"""The one harness every benchmark here runs on; bench/README.md says what it provides."""

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CLI = str(REPO / ".venv" / "bin" / "journeys")
RUNNING = "step processor running"  # a worker logs it once its step processor runs
CREATE = "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id } }"
BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
Body = Callable[["Run"], Coroutine[Any, Any, str]]  # a script's benchmark: its report
QUIET = 0.1  # `--wait-quiet`: the machine's busy share a figure is best taken under


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def goal(value: float, sign: str, bound: float, unit: str = "x") -> str:
    """`value` against a goal, as ">= 0.5x: 0.68x, met"; `sign` is ">=" or "<="."""
    met = value >= bound if sign == ">=" else value <= bound
    return f"{sign} {bound:g}{unit}: {value:.2f}{unit}, {'met' if met else 'NOT met'}"


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile; NaN when empty."""
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def ms(values: Sequence[float]) -> str:
    p50, p99 = (fmt(percentile(values, share) * 1000, ".0f") for share in (0.5, 0.99))
    return f"p50 {p50} ms, p99 {p99} ms"


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU these processes (all their threads) have used so far."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int, key: str = "VmHWM") -> float | None:
    """Peak RSS (VmHWM) or current RSS (VmRSS) of a process, in MB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return None


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far; `busy_since` their share since then."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def busy_since(before: tuple[int, int]) -> float | None:
    busy, total = (now - then for now, then in zip(machine_ticks(), before, strict=True))
    return busy / total if total else None


def wait_quiet(seconds: float) -> float | None:
    """How busy the machine was over 2 s, measured again for up to `seconds` while it is not
    under QUIET: a figure taken while something else runs says less about the project."""
    until = time.monotonic() + seconds
    while True:
        ticks = machine_ticks()
        time.sleep(2)
        busy = busy_since(ticks)
        if busy is None or busy < QUIET or time.monotonic() >= until:
            return busy
        note(f"waiting for a quiet machine: {busy:.0%} busy")


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def main(doc: str | None, name: str, body: Body, workers: bool = False, **options: Any) -> None:
    """The options every script takes (bench/README.md; with `workers`, PostgreSQL by default)
    and its own, `name=default` or `name=(default, help)`; then `body` runs in a fresh
    directory, its report is printed, and every process it started is stopped."""
    found = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    postgres = "postgresql://127.0.0.1:5432/test" if workers else None
    found.add_argument("--database-url", default=postgres, help="default: SQLite")
    found.add_argument("--pg-database", default=f"journeys_{name}", help="recreated each run")
    found.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    found.add_argument("--keep", action="store_true", help="keep the run directory and logs")
    found.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")
    options = ({"workers": (2, "`journeys worker` processes")} if workers else {}) | options
    for option, given in options.items():
        default, text = given if isinstance(given, tuple) else (given, None)
        flag, kind = "--" + option.replace("_", "-"), type(default)
        typed = {"action": "store_true"} if kind is bool else {"type": kind, "default": default}
        found.add_argument(flag, help=text, **typed)
    args = found.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    note(f"run directory {workdir}, every process's log in it (kept with --keep)")
    bench = Run(name, args, workdir, wait_quiet(args.wait_quiet))
    try:
        report = asyncio.run(body(bench))
    finally:
        bench.close()
        bench.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report)
    if args.json:
        args.json.write_text(json.dumps({"report": report, **bench.result}, indent=2))


@dataclass
class Run:
    """One benchmark run: its directory, processes, database, token and project environment."""

    name: str
    args: argparse.Namespace
    workdir: Path
    busy_at_start: float | None = None
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    database_url: str = ""
    database: str = ""
    env: dict[str, str] = field(default_factory=dict)
    token: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # the editor token's
    result: dict[str, Any] = field(default_factory=dict)  # written by --json
    connection: Any = None  # the script's own, for its polls

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> int:
        """A process of the run's, logging to `<workdir>/<name>.log`; its pid."""
        with (self.workdir / f"{name}.log").open("wb") as log:
            # A session of its own: a Ctrl-C reaches only the script, which stops it.
            process = subprocess.Popen(
                command, env=env, cwd=REPO, stdout=log, stderr=log, start_new_session=True
            )
        self.running.append((name, process))
        return process.pid

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def pids(self, prefix: str) -> list[int]:
        return [process.pid for name, process in self.running if name.startswith(prefix)]

    def check_alive(self) -> None:
        for name, process in self.running:
            if process.poll() is not None:
                tail = "\n".join(self.log(name).splitlines()[-20:])
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self, prefix: str = "") -> None:
        """SIGTERM those whose name starts with `prefix`, each by its pid; SIGKILL after 15 s."""
        chosen = [entry for entry in self.running if entry[0].startswith(prefix)]
        for _, process in chosen:
            process.terminate()
        for _, process in chosen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            process.kill()  # if it is still running
            process.wait()
        self.running = [entry for entry in self.running if entry not in chosen]

    def prepare(self) -> None:
        """A fresh database, `journeys migrate`, an editor token in workspace `bench`."""
        self.close()
        if (requested := self.args.database_url) is None or requested.startswith("sqlite"):
            self.database_url, self.database = f"sqlite:///{self.workdir / 'bench.db'}", "SQLite"
        else:
            import psycopg

            name = self.args.pg_database
            with psycopg.connect(requested, autocommit=True) as admin:
                version = admin.execute("SHOW server_version").fetchone()
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{name}"')
            self.database_url = f"{requested.rsplit('/', 1)[0]}/{name}"
            self.database = f"PostgreSQL {version[0] if version else '?'}"
        # No rate limit: a benchmark is one token sending as fast as the server answers.
        self.env = os.environ | {"DATABASE_URL": self.database_url, "PYTHONUNBUFFERED": "1",
                                 "JOURNEYS_MUTATION_RATE_LIMIT": "off"}  # fmt: skip
        self.cli("migrate")
        self.token = self.new_token("editor")
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def cli(self, *arguments: str) -> str:
        done = subprocess.run([CLI, *arguments], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"journeys {' '.join(arguments)} failed:\n{done.stderr}")
        return done.stdout

    def new_token(self, role: str) -> str:
        created = self.cli("token", "create", "--workspace", "bench", "--role", role)
        return created.strip().splitlines()[-1]

    async def project(self, workers: int = 0, **env: str) -> tuple[str, int]:
        """`prepare`, a private redis-server, `journeys serve` and `workers` workers: (URL, pid)."""
        self.prepare()
        port = free_port()
        command = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
        self.start("redis", [*command, "--dir", str(self.workdir)])
        await self.until(lambda: "Ready to accept" in self.log("redis"), "redis ready", 10)
        self.env |= {"REDIS_URL": f"redis://127.0.0.1:{port}/0", **env}
        self.env["JOURNEYS_QUEUE_NAME"] = f"bench:{self.name}"
        server = await self.serve("api")
        await self.start_workers(workers)
        return server

    async def serve(self, name: str, peer: Sequence[str] = ()) -> tuple[str, int]:
        """`journeys serve`, or the peer `bench/<script> [options]` (with the database, `journeys
        serve`'s uvicorn options, no path to the project), on a free port: (URL, pid)."""
        port = str(free_port())
        if not peer:
            command, env = [CLI, "serve", "--host", "127.0.0.1", "--port", port], self.env
        else:
            asked = "import json, gql.app as app, service.settings as s; print(json.dumps("
            asked += "app.server_options(s.Settings.from_env())))"
            found = subprocess.run([sys.executable, "-c", asked], env=self.env, capture_output=True,
                                   text=True, check=True)  # fmt: skip
            command = [sys.executable, str(BENCH / peer[0]), *peer[1:], "--port", port]
            command += ["--database-url", self.database_url]
            command += ["--uvicorn-options", found.stdout.strip().splitlines()[-1]]
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
        pid = self.start(name, command, env)

        def listening() -> bool:  # uvicorn listens once the app's startup is done
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", int(port))):
                return True
            return False

        await self.until(listening, f"{name} listening", timeout=60, every=0.1)
        return f"http://127.0.0.1:{port}", pid

    async def start_workers(self, count: int) -> None:
        """`count` `journeys worker` processes, once each one's step processor runs."""
        for n in range(count):
            self.start(f"worker-{n}", [CLI, "worker"], self.env)
        await self.until(lambda: all(RUNNING in self.log(f"worker-{n}") for n in range(count)))

    async def until(
        self, done: Callable[[], object], what: str = "", timeout: float = 900, every: float = 0.05
    ) -> None:
        """Polls `done` every `every` s, checking the processes; RuntimeError after `timeout`."""
        started = time.perf_counter()
        while not done():
            self.check_alive()
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"not {what or 'done'} within {timeout:g} s: see --keep's logs")
            await asyncio.sleep(every)

    def rows(self, query: str, *params: object) -> list[Any]:
        """A query's rows (PostgreSQL), on one connection kept open: a new one each poll
        would fork a backend a hundred times a second, CPU taken from the project."""
        import psycopg

        self.connection = self.connection or psycopg.connect(self.database_url, autocommit=True)
        return list(self.connection.execute(query, params).fetchall())

    def sql(self, query: str, *params: object) -> Any:
        """The first column of a query's first row, None without a row."""
        return next((row[0] for row in self.rows(query, *params)), None)

    def backends(self) -> list[int]:
        """The PostgreSQL server processes serving the run's database."""
        return [pid for (pid,) in self.rows(BACKENDS, self.args.pg_database)]

    def close(self) -> None:
        self.connection = self.connection and self.connection.close()

    def report(self, settings: str, header: Sequence[str], rows: list[list[str]]) -> str:
        """The date, the machine, the run's settings, then the figures as a Markdown table."""
        self.result["rows"] = [dict(zip(header, row, strict=True)) for row in rows]
        date = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        machine = f"{os.cpu_count()} CPUs, {platform.machine()}, load {os.getloadavg()[0]:.2f}"
        machine += f", {fmt(self.busy_at_start, '.0%')} busy at the start"
        if self.busy_at_start is not None and self.busy_at_start >= QUIET:
            machine += " (not quiet: see --wait-quiet)"
        facts = f"{date}; {machine}; Python {platform.python_version()}; {self.database}"
        lines = [header, ["---"] * len(header), *rows]
        figures = "\n".join("| " + " | ".join(line) + " |" for line in lines)
        return f"{facts}\n{settings}\n\n{figures}"


class Failed(RuntimeError):
    """An answer that was not the expected one."""


class RawClient(contextlib.AbstractAsyncContextManager["RawClient"]):
    """One keep-alive HTTP/1.1 connection, the response read by its Content-Length: a fraction
    of httpx's CPU, which on 2 cores would be taken from the server under test."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float = 120) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        headers = {**headers, "Content-Type": "application/json"}
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.timeout = timeout
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def __aexit__(self, *_: object) -> None:
        if self.streams:
            self.streams[1].close()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, the JSON answer); a new connection if the server closed the idle one."""
        if self.streams is None or self.streams[0].at_eof():
            self.streams = await asyncio.open_connection(self.host, int(self.port))
        reader, writer = self.streams
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.head}"
        writer.write(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
        status = (await asyncio.wait_for(reader.readline(), self.timeout)).split()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            length = int(value) if name.lower() == "content-length" else length
        payload = await reader.readexactly(length)
        return int(status[1]), json.loads(payload) if payload else None

    async def graphql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """A document's `data`; Failed on an HTTP error or any GraphQL error."""
        body = {"query": query, "variables": variables or {}}
        status, answer = await self.request("POST", "/graphql", body)
        if status != 200 or answer.get("errors"):
            raise Failed(f"HTTP {status}: {str(answer)[:300]}")
        return answer["data"]


async def journey(client: RawClient, given: dict[str, Any] | str, *actions: str) -> str:
    """A journey created over the project's API (or the one of that id), moved by `actions`."""
    if isinstance(given, dict):
        created = await client.graphql(CREATE, {"i": given})
        given = str(created["createJourney"]["id"])
    for action in actions:
        document = f"mutation($id: ID!) {{ {action}Journey(id: $id) {{ status }} }}"
        await client.graphql(document, {"id": given})
    return given
