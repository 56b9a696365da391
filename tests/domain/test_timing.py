"""domain.timing: the intake window, the running status, what falls due when."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.actions import Action
from domain.statuses import Status
from domain.timing import (
    due_action,
    next_timed_action,
    running_status,
    timed_date,
    window_is_open,
)
from tests.domain.factories import END, START, T0, at

TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("start_at", "end_at", "now", "is_open"),
    [
        (START, END, START - TICK, False),
        (START, END, START, True),  # the start is inclusive
        (START, END, END - TICK, True),
        (START, END, END, False),  # the end is exclusive
        (START, END, END + TICK, False),
        (None, END, T0, True),
        (None, END, END, False),
        (START, None, START - TICK, False),
        (START, None, at(days=10_000), True),
        (None, None, T0, True),
    ],
)
def test_window_is_open(start_at, end_at, now, is_open):
    assert window_is_open(start_at, end_at, now) is is_open


@pytest.mark.parametrize(
    ("start_at", "end_at", "fully_entered", "now", "expected"),
    [
        (START, END, False, START - TICK, Status.SCHEDULED),
        (START, END, True, START - TICK, Status.SCHEDULED),  # the start comes first
        (START, END, False, START, Status.ACTIVE),
        (START, END, False, END - TICK, Status.ACTIVE),
        (START, END, False, END, Status.CLOSED),
        (START, END, False, END + TICK, Status.CLOSED),
        (START, END, True, START, Status.CLOSED),  # audience exhausted
        (None, None, False, T0, Status.ACTIVE),
        (None, None, True, T0, Status.CLOSED),
        (None, END, False, END, Status.CLOSED),
        (START, None, False, at(days=10_000), Status.ACTIVE),
    ],
)
def test_running_status(start_at, end_at, fully_entered, now, expected):
    assert running_status(start_at, end_at, fully_entered, now) is expected


@pytest.mark.parametrize("now", [START - TICK, START, END - TICK, END, END + TICK])
def test_running_status_agrees_with_the_window(now):
    status = running_status(START, END, False, now)
    assert (status is Status.ACTIVE) is window_is_open(START, END, now)


@pytest.mark.parametrize(
    ("status", "start_at", "end_at", "expected"),
    [
        (Status.SCHEDULED, START, END, (Action.START, START)),
        (Status.SCHEDULED, None, END, (Action.START, None)),
        (Status.ACTIVE, START, END, (Action.END, END)),
        (Status.ACTIVE, START, None, None),
        *[(s, START, END, None) for s in Status if s not in (Status.SCHEDULED, Status.ACTIVE)],
    ],
)
def test_next_timed_action(status, start_at, end_at, expected):
    assert next_timed_action(status, start_at, end_at) == expected


@pytest.mark.parametrize(
    ("status", "start_at", "end_at", "now", "expected"),
    [
        (Status.SCHEDULED, START, END, START - TICK, None),
        (Status.SCHEDULED, START, END, START, Action.START),
        (Status.SCHEDULED, START, END, END + TICK, Action.START),
        (Status.SCHEDULED, None, END, T0, Action.START),  # no start date: due at once
        (Status.ACTIVE, START, END, END - TICK, None),
        (Status.ACTIVE, START, END, END, Action.END),
        (Status.ACTIVE, START, None, at(days=10_000), None),
        (Status.PAUSED, START, END, END + TICK, None),
        (Status.FROZEN, START, END, END + TICK, None),
        (Status.CLOSED, START, END, END + TICK, None),
        (Status.ERROR, START, END, END + TICK, None),
        (Status.DESIGNING, START, END, END + TICK, None),
        (Status.ABORTED, START, END, END + TICK, None),
    ],
)
def test_due_action(status, start_at, end_at, now, expected):
    assert due_action(status, start_at, end_at, now) is expected


def test_timed_date_is_the_date_each_timed_action_waits_for():
    assert timed_date(Action.START, START, END) == START
    assert timed_date(Action.END, START, END) == END
    assert timed_date(Action.PAUSE, START, END) is None
