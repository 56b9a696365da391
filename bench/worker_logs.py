"""What `journeys worker`'s logs say about a storm: who applied the STARTs and how long it took.

Read from arq's and the sweep's log lines: journeys STARTed by deferred jobs and jobs that
found nothing due, failed jobs, the jobs' run times, arq's start delays (it logs `delayed=`
only past 1.2 s), the sweeps that moved journeys and how long they ran, and error lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

JOB_DONE = re.compile(r"(\d+\.\d+)s ← start:\S+:apply_due_transitions ● (\d+)")
JOB_FAILED = re.compile(r"! start:\S+:apply_due_transitions failed")
DELAYED = re.compile(r"→ start:\S+ .*delayed=(\d+\.\d+)s")
SWEEP_DONE = re.compile(r"(\d+\.\d+)s ← cron:sweep\S* ● (\d+)")
SWEEP_MOVED = re.compile(r"sweep moved (\d+) late journeys")


@dataclass
class LogFacts:
    """What the workers' logs say about who applied the STARTs."""

    jobs_true: int = 0  # journeys STARTed by deferred jobs (one job per workspace and date)
    jobs_false: int = 0  # deferred jobs that found nothing due (already done)
    jobs_failed: int = 0
    job_seconds: list[float] = field(default_factory=list)  # run time of START jobs
    delayed: list[float] = field(default_factory=list)  # arq's "delayed=" (start - planned)
    sweep_moved: list[int] = field(default_factory=list)
    sweep_runs: int = 0
    sweep_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_logs(logs: list[Path]) -> LogFacts:
    facts = LogFacts()
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if match := JOB_DONE.search(line):
                facts.job_seconds.append(float(match[1]))
                if int(match[2]) > 0:
                    facts.jobs_true += int(match[2])
                else:
                    facts.jobs_false += 1
            elif JOB_FAILED.search(line):
                facts.jobs_failed += 1
            elif (match := SWEEP_DONE.search(line)) and int(match[2]) > 0:
                facts.sweep_runs += 1  # only the sweeps that moved something
                facts.sweep_seconds.append(float(match[1]))
            elif match := SWEEP_MOVED.search(line):
                facts.sweep_moved.append(int(match[1]))
            elif "Traceback" in line or " failed, " in line or "ERROR" in line:
                facts.errors.append(f"{log.name}: {line.strip()}")
            if match := DELAYED.search(line):
                facts.delayed.append(float(match[1]))
    return facts
