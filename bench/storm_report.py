"""timer_storm.py's figures: one run's result, its report, and the summary of all runs.

The goal (every run): all ACTIVE within 5 s of the due second, 0 duplicates, 0 misses, and
the creation done before the due second (or the figures are not valid).
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime

from harness import machine_line, percentile
from pg_watch import Postgres, Watch
from worker_logs import LogFacts

GOAL_SECONDS = 5.0
GOAL_LINE = "goal: all ACTIVE within 5 s of the due second, 0 duplicates, 0 misses"


@dataclass
class RunResult:
    kind: str
    created_seconds: float = 0.0
    creation_overran: bool = False
    queued_jobs: int = 0
    queued_after_flush: int | None = None
    due: datetime = field(default_factory=lambda: datetime.now(UTC))
    watch: Watch = field(default_factory=Watch)
    logs: LogFacts | None = None
    profiles: list[str] = field(default_factory=list)
    load_at_due: float = 0.0  # 1-minute load average: other users of the machine show here

    @property
    def goal_met(self) -> bool:
        return (
            self.watch.all_active_after is not None
            and self.watch.all_active_after <= GOAL_SECONDS
            and self.watch.duplicates == 0
            and self.watch.misses == 0
            and not self.creation_overran
        )


def seconds(value: float | None) -> str:
    """None: the moment never came while watched; NaN: nothing to measure."""
    if value is None:
        return "never"
    return "-" if math.isnan(value) else f"{value:.2f} s"


def crossing(timeline: list[tuple[float, int]], target: int) -> float | None:
    """When the ACTIVE count first reached `target` (seconds after due)."""
    return next((at for at, active in timeline if active >= target), None)


def report_run(result: RunResult, n: int, poll: float, timeout: float) -> str:
    """One run's figures, printed as soon as it is over."""
    seen = result.watch
    lines = [
        f"  due second: {result.due.isoformat()}",
        f"  all ACTIVE after: {seconds(seen.all_active_after)} "
        f"(seen in PostgreSQL, polling every {poll} s, {seen.polls} polls)",
        "  visible ACTIVE: "
        + ", ".join(
            f"{label} at {seconds(crossing(seen.timeline, math.ceil(share * n)))}"
            for label, share in (("1%", 0.01), ("50%", 0.5), ("99%", 0.99), ("100%", 1.0))
        ),
        "  ACTIVE count by time: "
        + ", ".join(
            f"+{mark:g} s: {max((a for t, a in seen.timeline if t <= mark), default=0)}"
            for mark in (0.5, 1, 2, 5, 10, 20, 30, 60)
            if mark <= (seen.timeline[-1][0] if seen.timeline else 0) + 1
        ),
        f"  START `at` lateness: p50 {seconds(percentile(seen.lateness, 0.5))}, "
        f"p99 {seconds(percentile(seen.lateness, 0.99))}, "
        f"max {seconds(max(seen.lateness, default=float('nan')))} "
        f"({len(seen.lateness)} START events)",
        f"  duplicates: {seen.duplicates}   misses (not ACTIVE at due + {timeout:g} s):"
        f" {seen.misses}   still not ACTIVE when the watch ended: {seen.never}",
    ]
    if (rate := visible_rate(seen, n)) != "-":
        lines.append(f"  STARTs made visible: {rate} (first to last visible ACTIVE)")
    if seen.commits is not None:
        lines.append(
            f"  transactions committed in the database (reads, polls too): {seen.commits} "
            f"({seen.commits / seen.storm_seconds:.0f}/s over {seen.storm_seconds:.1f} s)"
        )
    cpu = ", ".join(f"{value:.1f} s" for value in seen.worker_cpu)
    busy = f"{seen.machine_busy:.0%}" if seen.machine_busy is not None else "?"
    lines.append(
        f"  worker CPU during the storm: {cpu}; machine busy (all cores): {busy}; "
        f"load average at due {result.load_at_due:.2f}"
    )
    facts = result.logs
    if facts is not None:
        lines.append(
            f"  deferred START jobs: {facts.jobs_true} journeys applied by jobs, "
            f"{facts.jobs_false} jobs found nothing due, {facts.jobs_failed} failed; run time p50 "
            f"{seconds(percentile(facts.job_seconds, 0.5))}, max "
            f"{seconds(max(facts.job_seconds, default=float('nan')))}; arq start delay "
            f"(>1.2 s only) on {len(facts.delayed)} jobs, max "
            f"{seconds(max(facts.delayed, default=float('nan')))}"
        )
        lines.append(
            f"  sweeps that moved journeys: {facts.sweep_runs} (longest "
            f"{seconds(max(facts.sweep_seconds, default=float('nan')))}), moved "
            f"{sum(facts.sweep_moved)} journeys ({facts.sweep_moved or 'none'})"
        )
        for error in facts.errors[:5]:
            lines.append(f"  worker log: {error[:160]}")
    lines.extend(result.profiles)
    lines.append("  database backends, sampled at each poll (state | wait | statement):")
    total = sum(seen.backend_samples.values()) or 1
    for label, count in seen.backend_samples.most_common(8):
        per_poll = count / max(seen.polls, 1)
        lines.append(f"    {per_poll:6.1f} per poll ({count / total:4.0%})  {label}")
    return "\n".join(lines)


def visible_rate(seen: Watch, n: int) -> str:
    first, last = crossing(seen.timeline, 1), seen.all_active_after
    if first is None or last is None or last <= first:
        return "-"
    return f"{n / (last - first):.0f}/s"


def summary(results: list[RunResult], n: int, timeout: float) -> str:
    """Both runs side by side, with the goal in the last column."""
    width = 16
    header = f"{'':<36}" + "".join(f"{'run ' + r.kind:>{width}}" for r in results)
    header += f"{'goal':>{width}}"
    rows: list[tuple[str, list[str], str]] = [
        (
            "all ACTIVE after the due second",
            [seconds(r.watch.all_active_after) for r in results],
            f"<= {GOAL_SECONDS:.2f} s",
        ),
        (
            "50% visibly ACTIVE after",
            [seconds(crossing(r.watch.timeline, math.ceil(n / 2))) for r in results],
            "",
        ),
        ("STARTs made visible per second", [visible_rate(r.watch, n) for r in results], ""),
        (
            "lateness p50 (`at` - due)",
            [seconds(percentile(r.watch.lateness, 0.5)) for r in results],
            "",
        ),
        ("lateness p99", [seconds(percentile(r.watch.lateness, 0.99)) for r in results], ""),
        (
            "lateness max",
            [seconds(max(r.watch.lateness, default=float("nan"))) for r in results],
            "",
        ),
        ("duplicates", [str(r.watch.duplicates) for r in results], "0"),
        (
            f"misses (not ACTIVE at due + {timeout:g} s)",
            [str(r.watch.misses) for r in results],
            "0",
        ),
        ("never ACTIVE while watched", [str(r.watch.never) for r in results], "0"),
        ("goal", ["met" if r.goal_met else "MISSED" for r in results], ""),
    ]
    lines = [header]
    for name, values, goal in rows:
        lines.append(f"{name:<36}" + "".join(f"{v:>{width}}" for v in [*values, goal]))
    lines.append(GOAL_LINE)
    return "\n".join(lines)


def machine_facts(postgres: Postgres) -> list[str]:
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout.split()
    version = next((w for w in redis_version if w.startswith("v=")), "v=?")[2:]
    load = os.getloadavg()
    return [
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        machine_line(f"; load average before start {load[0]:.2f} {load[1]:.2f}"),
        f"python: {platform.python_version()}",
        f"postgresql: {postgres.version()}; synchronous_commit="
        f"{postgres.setting('synchronous_commit')}, max_connections="
        f"{postgres.setting('max_connections')}",
        f"redis: private redis-server {version} (no persistence)",
    ]
