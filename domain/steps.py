"""A straight line of steps: how a journey's flow was written before nodes, still
accepted as `steps` and shown wherever the flow is one (domain.flow).

A WAIT step waits `seconds`; a SEND step queues a message (`channel`,
`template`). A draft may leave a step incomplete (a WAIT without seconds, a
SEND without its channel or template): it is saved, and only stops the journey
from going live (`Step.incompleteness`). Anything else our rules never accept
is refused at save (`step_problems`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.channels import CHANNELS
from domain.text import MAX_TEXT_LENGTH, text_problem

MAX_STEPS = 100
MAX_WAIT_SECONDS = 366 * 24 * 3600


class StepType(StrEnum):
    WAIT = "WAIT"
    SEND = "SEND"


@dataclass(frozen=True)
class Step:
    type: StepType
    seconds: int | None = None
    channel: str | None = None
    template: str | None = None

    def incompleteness(self) -> str | None:
        """Why this step cannot run yet, or None when it can."""
        if self.type is StepType.WAIT and self.seconds is None:
            return "a WAIT step needs seconds"
        if self.type is StepType.SEND and not (self.channel and self.template):
            return "a SEND step needs a channel and a template"
        return None


def step_problems(steps: Sequence[Step]) -> list[str]:
    """Every value in these steps that our rules never accept, step by step (an
    incomplete step is not one of them)."""
    problems = []
    if len(steps) > MAX_STEPS:
        problems.append(f"a journey has at most {MAX_STEPS} steps")
    for index, step in enumerate(steps, start=1):
        problems += _problems_of(index, step)
    return problems


def _problems_of(index: int, step: Step) -> list[str]:
    problems = []
    where = f"step {index} ({step.type})"
    if step.seconds is not None and not 1 <= step.seconds <= MAX_WAIT_SECONDS:
        problems.append(f"{where}: seconds must be between 1 and {MAX_WAIT_SECONDS}")
    if step.type is StepType.WAIT and (step.channel or step.template):
        problems.append(f"{where}: a WAIT step takes no channel or template")
    if step.type is StepType.SEND and step.seconds is not None:
        problems.append(f"{where}: a SEND step takes no seconds")
    if step.channel is not None and step.channel not in CHANNELS:
        problems.append(f"{where}: unknown channel {step.channel!r} (known: {', '.join(CHANNELS)})")
    if step.template is not None:
        problem = text_problem(f"{where}: template", step.template, MAX_TEXT_LENGTH)
        if problem:
            problems.append(problem)
    return problems
