"""py-spy on each `journeys worker` while a storm lasts (timer_storm.py's `--profile DIR`).

Each worker is recorded at `RATE` samples a second (all threads, idle ones not counted),
raw stacks into `DIR/<run>-worker-<n>.raw`; py-spy writes its file when it gets SIGINT, at
the end of the watch. The summary: how busy each worker was, its hottest leaf functions and
innermost project frames (`harness.read_stacks`).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from harness import PY_SPY, Processes, read_stacks

RATE = 50  # py-spy samples per second
PROJECT = ("domain", "service", "store", "jobs")


class WorkerProfiles:
    """The profiles of one run's workers; with no directory, nothing is recorded."""

    def __init__(self, processes: Processes, kind: str, directory: Path | None) -> None:
        self.processes = processes
        self.kind = kind
        self.directory = directory
        self.outputs: list[Path] = []
        self.since = 0.0

    def start(self, pids: list[int]) -> None:
        self.since = time.monotonic()
        if self.directory is None:
            return
        if not PY_SPY.exists():
            raise SystemExit(f"--profile needs py-spy: {PY_SPY} is missing (pip install py-spy)")
        self.directory.mkdir(parents=True, exist_ok=True)
        for n, pid in enumerate(pids, start=1):
            output = self.directory / f"{self.kind}-worker-{n}.raw"
            command = [
                str(PY_SPY), "record", "--pid", str(pid), "--rate", str(RATE),
                "--nonblocking", "--format", "raw", "--output", str(output),
            ]  # fmt: skip
            log = output.with_suffix(".log")
            self.processes.start(f"py-spy-{self.kind}-{n}", command, dict(os.environ), log)
            self.outputs.append(output)

    def stop(self) -> list[str]:
        """Stop py-spy (it writes on SIGINT); a summary of each worker's profile."""
        if not self.outputs:
            return []
        self.processes.stop(f"py-spy-{self.kind}-", how=signal.SIGINT)
        profiled = time.monotonic() - self.since
        return [summarize(output, profiled) for output in self.outputs]


def summarize(raw: Path, wall_seconds: float, top: int = 6) -> str:
    """The leaf functions most often on CPU, and how busy the process was."""
    if not raw.exists():
        return f"  py-spy {raw.name}: no output"
    stacks = read_stacks([raw], own=PROJECT)
    total = stacks.total
    busy = total / (RATE * wall_seconds) if wall_seconds > 0 else float("nan")
    lines = [
        f"  py-spy {raw.stem}: {total} samples on CPU = {busy:.0%} of one core over "
        f"{wall_seconds:.1f} s; hottest leaf functions:"
    ]
    lines += [
        f"    {c / max(total, 1):5.1%}  {name[:110]}" for name, c in stacks.leaves.most_common(top)
    ]
    lines.append("   by innermost project frame:")
    lines += [
        f"    {c / max(total, 1):5.1%}  {name[:110]}" for name, c in stacks.ours.most_common(top)
    ]
    return "\n".join(lines)
