"""What the benchmarks share: free ports, the processes they start, CPU accounting (/proc),
the event loop, which code was measured, and the run's temporary directory."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("domain", "store", "service", "gql", "jobs", "cli")

T = TypeVar("T")


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


def machine_line(more: str = "") -> str:
    """The `machine:` line every report starts with."""
    return (
        f"machine: nproc={os.cpu_count()}, {platform.system()} {platform.release()}, "
        f"{platform.machine()}{more}"
    )


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


def run_benchmark(
    benchmark: Callable[[Path, Processes], Coroutine[Any, Any, str]], *, keep: bool, name: str
) -> int:
    """Run a benchmark in a temporary directory, stop every process it started, print its report."""
    workdir = Path(tempfile.mkdtemp(prefix=f"journeys-{name}-"))
    processes = Processes()
    try:
        output = run_loop(benchmark(workdir, processes))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        if keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(output)
    return 0


def code_fingerprint() -> str:
    """Which server code ran: a digest of its sources and when the newest was saved."""
    digest = hashlib.sha256()
    newest = 0.0
    for package in SOURCE_PACKAGES:
        for source in sorted((REPO / package).rglob("*.py")):
            digest.update(str(source.relative_to(REPO)).encode() + b"\0" + source.read_bytes())
            newest = max(newest, source.stat().st_mtime)
    saved = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(newest))
    return f"sha256 {digest.hexdigest()[:12]} of {', '.join(SOURCE_PACKAGES)} (newest file {saved})"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of a process, or None where /proc is absent."""
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


def tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Processes:
    """The processes a benchmark started; `stop_all` ends them (each by its own pid)."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, command: list[str], env: dict[str, str], log: Path) -> int:
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=REPO,
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
