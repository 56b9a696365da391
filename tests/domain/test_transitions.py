"""Every (status, action, role) triple: the transition table of docs/rules.md.

The expected outcomes are written out here from the spec, not read from
domain.transitions, so a wrong row in the domain's table fails a test.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from domain.actions import Action, Role
from domain.errors import Forbidden, TransitionNotAllowed
from domain.journey import Journey
from domain.statuses import INITIAL_STATUS, Status
from domain.timing import running_status
from domain.transitions import TRANSITIONS, target_of
from tests.domain.factories import (
    ACTORS,
    EVENT,
    LATE,
    NOW,
    SEGMENT,
    assert_unchanged,
    journey_in,
    snapshot,
)
from tests.domain.spec import ABORTABLE, AUTHORITY, FAILABLE

S = Status
A = Action

# What succeeds at NOW (inside the start/end window of journey_in's journeys)
# for an event-triggered journey. Anything else is refused by the table or a guard:
# END is not due yet, AUDIENCE_LOADED is for segment journeys only.
AT_NOW: dict[tuple[Status, Action], Status] = {
    (S.DESIGNING, A.ACTIVATE): S.ACTIVE,  # start has passed
    (S.SCHEDULED, A.START): S.ACTIVE,  # start has passed: START is due
    (S.SCHEDULED, A.FREEZE): S.FROZEN,
    (S.ACTIVE, A.PAUSE): S.PAUSED,
    (S.ACTIVE, A.FREEZE): S.FROZEN,
    (S.ACTIVE, A.CLOSE): S.CLOSED,
    (S.PAUSED, A.RESUME): S.ACTIVE,
    (S.PAUSED, A.FREEZE): S.FROZEN,
    (S.PAUSED, A.REACTIVATE): S.ACTIVE,
    (S.CLOSED, A.REACTIVATE): S.ACTIVE,  # end date still ahead
    (S.CLOSED, A.FREEZE): S.FROZEN,
    (S.FROZEN, A.REACTIVATE): S.ACTIVE,
    (S.ERROR, A.RECOVER): S.ACTIVE,  # it left ACTIVE
    **{(status, A.FAIL): S.ERROR for status in FAILABLE},
    **{(status, A.ABORT): S.ABORTED for status in ABORTABLE},
}
SEGMENT_AT_NOW = {**AT_NOW, (S.ACTIVE, A.AUDIENCE_LOADED): S.CLOSED}

# What succeeds at LATE, once the end date has passed.
AT_LATE: dict[tuple[Status, Action], Status] = {
    **{key: target for key, target in AT_NOW.items() if key[1] not in (A.ACTIVATE,)},
    (S.ACTIVE, A.END): S.CLOSED,
    (S.PAUSED, A.RESUME): S.CLOSED,
    (S.PAUSED, A.REACTIVATE): S.CLOSED,
    (S.FROZEN, A.REACTIVATE): S.CLOSED,
    (S.ERROR, A.RECOVER): S.CLOSED,
}
del AT_LATE[(S.CLOSED, A.REACTIVATE)]  # would stay CLOSED: refused

ALL_STATUSES = list(Status)
ALL_ACTIONS = list(Action)
ALL_ROLES = list(Role)


def expected_outcome(
    table: dict[tuple[Status, Action], Status], status: Status, action: Action, role: Role
) -> Status | type[Exception]:
    if role not in AUTHORITY[action]:
        return Forbidden
    return table.get((status, action), TransitionNotAllowed)


def check_take(journey: Journey, action: Action, role: Role, now, expected) -> None:
    before = snapshot(journey)
    actor = ACTORS[role]
    if isinstance(expected, Status):
        event = journey.take(action, actor, now, reason="because")
        assert journey.status is expected
        assert journey.revision == before.journey.revision + 1
        assert journey.status_changed_at == now
        assert journey.updated_at == now
        assert journey.events == [*before.events, event]
        assert event.journey_id == journey.id
        assert event.previous_status is before.journey.status
        assert event.status is expected
        assert event.action is action
        assert event.actor == actor.named
        assert event.reason == "because"
        assert event.at == now
        assert event.version == journey.live_version
        return
    with pytest.raises(expected) as refused:
        journey.take(action, actor, now, reason="because")
    assert_unchanged(journey, before)
    assert refused.value.message
    if expected is TransitionNotAllowed:
        error = refused.value
        assert isinstance(error, TransitionNotAllowed)
        assert error.code == "TRANSITION_NOT_ALLOWED"
        assert error.status == journey.status
        assert error.allowed_actions == list(journey.available_actions(role, now))
    else:
        assert refused.value.code == "FORBIDDEN"


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("action", ALL_ACTIONS)
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_event_journey_action_inside_window(status, action, role):
    journey = journey_in(status, EVENT)
    check_take(journey, action, role, NOW, expected_outcome(AT_NOW, status, action, role))


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("action", ALL_ACTIONS)
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_segment_journey_action_inside_window(status, action, role):
    journey = journey_in(status, SEGMENT)
    check_take(journey, action, role, NOW, expected_outcome(SEGMENT_AT_NOW, status, action, role))


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("action", ALL_ACTIONS)
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_event_journey_action_after_end_date(status, action, role):
    journey = journey_in(status, EVENT)
    check_take(journey, action, role, LATE, expected_outcome(AT_LATE, status, action, role))


def test_the_forbidden_check_comes_before_the_status_check():
    journey = journey_in(Status.ABORTED)
    with pytest.raises(Forbidden):
        journey.take(Action.RECOVER, ACTORS[Role.EDITOR], NOW)


@pytest.mark.parametrize("action", [A.START, A.END, A.AUDIENCE_LOADED])
@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.ADMIN])
def test_timed_and_audience_actions_are_for_the_system_only(action, role):
    journey = journey_in(S.ACTIVE, SEGMENT)
    with pytest.raises(Forbidden, match="system"):
        journey.take(action, ACTORS[role], LATE)


def test_a_viewer_may_take_no_action_at_all():
    for status in ALL_STATUSES:
        journey = journey_in(status)
        for action in ALL_ACTIONS:
            with pytest.raises(Forbidden):
                journey.take(action, ACTORS[Role.VIEWER], NOW)


def test_no_transition_leads_back_to_the_initial_status():
    # store.queries.journey_log_is_whole relies on it: a journey's first event
    # is the only one that leaves INITIAL_STATUS.
    for target in TRANSITIONS.values():
        assert target is not INITIAL_STATUS
    dates = (None, NOW - timedelta(days=1), NOW + timedelta(days=1))
    for start_at, end_at, entered in itertools.product(dates, dates, (False, True)):
        assert running_status(start_at, end_at, entered, NOW) is not INITIAL_STATUS
    # RECOVER returns to the status FAIL left, and FAIL never leaves it.
    assert target_of(INITIAL_STATUS, Action.FAIL) is None
