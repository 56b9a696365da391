"""availableActions: exactly the caller actions this role may take now and that
would succeed.

The expected lists are worked out here from the spec's tables (tests/domain/spec.py:
who may take each action, the transition table) and the guards of docs/rules.md
section 3, applied to facts stated by hand for each journey; nothing is asked of
the domain's own rules, so a wrong rule or a wrong table row fails a test.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

import pytest

from domain.actions import Action, Role
from domain.journey import Journey
from domain.statuses import Status
from tests.domain.factories import (
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
from tests.domain.spec import AUTHORITY, CALLER_ACTIONS, TRANSITION_TABLE

A = Action
S = Status


@dataclass(frozen=True)
class Scenario:
    """A journey, the moment it is asked at, and what the guards need to know about
    it, written down by whoever built it (not read from the journey)."""

    name: str
    journey: Journey
    now: datetime
    status: Status
    # The latest version is complete: at least one valid step, and a trigger event
    # (event journeys) or a non-empty audience (segment journeys).
    ready: bool = True
    # The latest version's end date is at or before `now`.
    latest_end_passed: bool = False
    # A segment journey's whole audience has entered.
    audience_exhausted: bool = False


def guards_allow(action: Action, scenario: Scenario) -> bool:
    """docs/rules.md's guards on caller actions (the others have none)."""
    if action is A.ACTIVATE:  # valid content and audience, end date in the future
        return scenario.ready and not scenario.latest_end_passed
    if action is A.REACTIVATE:  # applies the latest version, so it must be valid ...
        if not scenario.ready:
            return False
        if scenario.status is S.CLOSED:  # ... and from CLOSED, must admit again
            return not (scenario.latest_end_passed or scenario.audience_exhausted)
    return True


def expected_actions(scenario: Scenario, role: Role) -> list[Action]:
    return [
        action
        for action in CALLER_ACTIONS
        if role in AUTHORITY[action]
        and (scenario.status, action) in TRANSITION_TABLE
        and guards_allow(action, scenario)
    ]


def scenarios() -> list[Scenario]:
    """Journeys in every status, at times where the guards say yes and no."""
    cases: list[Scenario] = []
    for kind in (EVENT, SEGMENT):
        for status in Status:
            # journey_in's journeys run from START to END: NOW is inside, LATE after.
            cases.append(Scenario(f"{kind}-{status}-now", journey_in(status, kind), NOW, status))
            cases.append(
                Scenario(
                    f"{kind}-{status}-late",
                    journey_in(status, kind),
                    LATE,
                    status,
                    latest_end_passed=True,
                )
            )
    cases.append(
        Scenario(
            "designing-not-ready",
            new_journey(content=ready_content(steps=())),
            T0,
            S.DESIGNING,
            ready=False,
        )
    )
    cases.append(
        Scenario(
            "designing-no-trigger",
            new_journey(content=ready_content(trigger_event=None)),
            T0,
            S.DESIGNING,
            ready=False,
        )
    )
    cases.append(
        Scenario(
            "designing-segment-no-audience",
            new_journey(SEGMENT, content=ready_content(SEGMENT, audience=None)),
            T0,
            S.DESIGNING,
            ready=False,
        )
    )
    cases.append(Scenario("designing-before-start", new_journey(), T0, S.DESIGNING))

    ended = journey_in(S.ACTIVE)
    ended.take(A.END, SYSTEM, END)
    cases.append(Scenario("closed-by-end", ended, LATE, S.CLOSED, latest_end_passed=True))
    extended = copy.deepcopy(ended)
    extended.edit({"end_at": at(days=30)}, EDITOR, LATE)  # pending: the live end has passed
    cases.append(Scenario("closed-end-extended", extended, LATE, S.CLOSED))
    shortened = journey_in(S.CLOSED)
    shortened.edit({"end_at": at(minutes=100)}, EDITOR, NOW)  # pending, and already past
    cases.append(
        Scenario("closed-pending-end-passed", shortened, NOW, S.CLOSED, latest_end_passed=True)
    )

    for status in (S.PAUSED, S.FROZEN, S.CLOSED):
        broken = journey_in(status)
        broken.edit({"steps": ()}, EDITOR, NOW)  # pending, and not ready
        cases.append(Scenario(f"{status}-pending-not-ready", broken, NOW, status, ready=False))

    loaded = journey_in(S.ACTIVE, SEGMENT)
    loaded.take(A.AUDIENCE_LOADED, SYSTEM, NOW)
    cases.append(Scenario("closed-audience-loaded", loaded, NOW, S.CLOSED, audience_exhausted=True))
    for left in (S.SCHEDULED, S.PAUSED, S.CLOSED, S.FROZEN):
        cases.append(Scenario(f"error-from-{left}", failed_from(left), NOW, S.ERROR))
        cases.append(
            Scenario(
                f"error-from-{left}-late",
                failed_from(left),
                LATE,
                S.ERROR,
                latest_end_passed=True,
            )
        )
    return cases


SCENARIOS = scenarios()


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_available_actions_follow_the_spec_tables_and_guards(scenario: Scenario, role: Role):
    journey = copy.deepcopy(scenario.journey)
    assert journey.status is scenario.status
    before = snapshot(journey)
    available = journey.available_actions(role, scenario.now)
    assert_unchanged(journey, before)  # asking changes nothing
    assert available == expected_actions(scenario, role)


def test_the_scenarios_reach_every_caller_action_and_every_guard():
    """The table above is only as good as its cases: each caller action is expected
    somewhere, and each guard refuses somewhere an action the tables allow."""
    expected = {action for s in SCENARIOS for role in Role for action in expected_actions(s, role)}
    assert expected == set(CALLER_ACTIONS)
    refused_by_a_guard = {
        (action, s.status)
        for s in SCENARIOS
        for action in (A.ACTIVATE, A.REACTIVATE)
        if (s.status, action) in TRANSITION_TABLE and not guards_allow(action, s)
    }
    assert refused_by_a_guard >= {
        (A.ACTIVATE, S.DESIGNING),
        (A.REACTIVATE, S.PAUSED),
        (A.REACTIVATE, S.FROZEN),
        (A.REACTIVATE, S.CLOSED),
    }


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
