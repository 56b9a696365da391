"""What the benchmarks share: free ports, the processes they start, CPU accounting (/proc)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
