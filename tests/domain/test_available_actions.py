"""availableActions: exactly the caller actions this role may take now and that
would succeed (checked by trying each one on a copy)."""

from __future__ import annotations

import copy

import pytest

from domain.actions import CALLER_ACTIONS, Action, Role
from domain.errors import DomainError
from domain.journey import Journey
from domain.statuses import Status
from tests.domain.factories import (
    ACTORS,
    EDITOR,
    END,
    EVENT,
    LATE,
    NOW,
    SEGMENT,
    SYSTEM,
    T0,
    assert_unchanged,
    at,
    failed_from,
    journey_in,
    new_journey,
    ready_content,
    snapshot,
)

A = Action


def succeeding_actions(journey: Journey, role: Role, now) -> list[Action]:
    succeeded = []
    for action in CALLER_ACTIONS:
        trial = copy.deepcopy(journey)
        try:
            trial.take(action, ACTORS[role], now)
        except DomainError:
            continue
        succeeded.append(action)
    return succeeded


def scenarios() -> list[tuple[str, Journey, object]]:
    """Journeys in every status, at times where the guards say yes and no."""
    cases: list[tuple[str, Journey, object]] = []
    for kind in (EVENT, SEGMENT):
        for status in Status:
            cases.append((f"{kind}-{status}-now", journey_in(status, kind), NOW))
            cases.append((f"{kind}-{status}-late", journey_in(status, kind), LATE))
    cases.append(("designing-not-ready", new_journey(content=ready_content(steps=())), T0))
    cases.append(("designing-before-start", new_journey(), T0))
    ended = journey_in(Status.ACTIVE)
    ended.take(A.END, SYSTEM, END)
    cases.append(("closed-by-end", ended, LATE))
    extended = copy.deepcopy(ended)
    extended.edit({"end_at": at(days=30)}, EDITOR, LATE)
    cases.append(("closed-end-extended", extended, LATE))
    broken = journey_in(Status.PAUSED)
    broken.edit({"steps": ()}, EDITOR, NOW)
    cases.append(("paused-pending-not-ready", broken, NOW))
    loaded = journey_in(Status.ACTIVE, SEGMENT)
    loaded.take(A.AUDIENCE_LOADED, SYSTEM, NOW)
    cases.append(("closed-audience-loaded", loaded, NOW))
    for left in (Status.SCHEDULED, Status.PAUSED, Status.CLOSED, Status.FROZEN):
        cases.append((f"error-from-{left}", failed_from(left), NOW))
    return cases


SCENARIOS = scenarios()


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    ("journey", "now"), [(j, now) for _, j, now in SCENARIOS], ids=[n for n, _, _ in SCENARIOS]
)
def test_available_actions_are_exactly_those_that_would_succeed(journey, now, role):
    journey = copy.deepcopy(journey)
    before = snapshot(journey)
    available = journey.available_actions(role, now)
    assert_unchanged(journey, before)  # asking changes nothing
    assert available == succeeding_actions(journey, role, now)


@pytest.mark.parametrize("status", list(Status))
def test_a_viewer_has_no_available_actions(status):
    assert journey_in(status).available_actions(Role.VIEWER, NOW) == []


@pytest.mark.parametrize(
    ("status", "editor", "admin"),
    [
        (Status.DESIGNING, [A.ACTIVATE], [A.ACTIVATE]),
        (Status.SCHEDULED, [A.FREEZE, A.ABORT], [A.FREEZE, A.ABORT, A.FAIL]),
        (
            Status.ACTIVE,
            [A.PAUSE, A.FREEZE, A.CLOSE, A.ABORT],
            [A.PAUSE, A.FREEZE, A.CLOSE, A.ABORT, A.FAIL],
        ),
        (
            Status.PAUSED,
            [A.RESUME, A.FREEZE, A.REACTIVATE, A.ABORT],
            [A.RESUME, A.FREEZE, A.REACTIVATE, A.ABORT, A.FAIL],
        ),
        (
            Status.CLOSED,
            [A.FREEZE, A.REACTIVATE, A.ABORT],
            [A.FREEZE, A.REACTIVATE, A.ABORT, A.FAIL],
        ),
        (Status.FROZEN, [A.REACTIVATE, A.ABORT], [A.REACTIVATE, A.ABORT, A.FAIL]),
        (Status.ERROR, [A.ABORT], [A.ABORT, A.RECOVER]),
        (Status.ABORTED, [], []),
    ],
)
def test_available_actions_in_ui_order_with_fail_and_recover_for_admins_only(status, editor, admin):
    journey = journey_in(status)
    assert journey.available_actions(Role.EDITOR, NOW) == editor
    assert journey.available_actions(Role.ADMIN, NOW) == admin


def test_system_sees_only_fail_and_recover_among_caller_actions():
    assert journey_in(Status.ACTIVE).available_actions(Role.SYSTEM, NOW) == [A.FAIL]
    assert journey_in(Status.ERROR).available_actions(Role.SYSTEM, NOW) == [A.RECOVER]


def test_reactivate_is_absent_from_a_closed_journey_whose_end_has_passed():
    journey = journey_in(Status.CLOSED)
    assert A.REACTIVATE in journey.available_actions(Role.EDITOR, NOW)
    assert A.REACTIVATE not in journey.available_actions(Role.EDITOR, LATE)


def test_activate_is_absent_until_the_content_is_ready():
    journey = new_journey(content=ready_content(trigger_event=None))
    assert journey.available_actions(Role.EDITOR, T0) == []
    journey.edit({"trigger_event": "signup"}, EDITOR, T0)
    assert journey.available_actions(Role.EDITOR, T0) == [A.ACTIVATE]
    assert journey.available_actions(Role.EDITOR, LATE) == []  # end date passed
