"""The status table (docs/rules.md) and the transition table as data."""

from __future__ import annotations

import pytest

from domain.actions import (
    ACTION_AUTHORITY,
    CALLER_ACTIONS,
    Action,
    Actor,
    ActorKind,
    Role,
    may_take,
    may_write,
)
from domain.statuses import STATUS_TABLE, CustomersInside, EditMode, Status, is_editable, traits
from domain.transitions import TRANSITIONS, actions_from, target_of
from tests.domain.spec import AUTHORITY, TRANSITION_TABLE

S = Status
A = Action

# status: (admits new customers, processes customers inside, editable), from the spec.
SPEC_STATUS_TABLE = {
    S.DESIGNING: (False, False, True),
    S.SCHEDULED: (False, False, True),
    S.ACTIVE: (True, True, False),
    S.PAUSED: (True, False, True),
    S.CLOSED: (False, True, True),
    S.FROZEN: (False, False, True),
    S.ERROR: (False, False, False),
    S.ABORTED: (False, False, False),
}


def test_the_status_table_has_exactly_the_eight_statuses():
    assert set(STATUS_TABLE) == set(Status) == set(SPEC_STATUS_TABLE)


@pytest.mark.parametrize("status", list(Status))
def test_status_switches_match_the_spec(status):
    admits, processes, editable = SPEC_STATUS_TABLE[status]
    assert traits(status).admits_new_audience is admits
    assert traits(status).processes_steps is processes
    assert is_editable(status) is editable


def test_customers_inside_are_held_exited_or_untouched_as_the_spec_says():
    inside = {status: traits(status).customers_inside for status in Status}
    assert inside == {
        S.DESIGNING: CustomersInside.NONE,
        S.SCHEDULED: CustomersInside.NONE,
        S.ACTIVE: CustomersInside.PROCESSED,
        S.PAUSED: CustomersInside.HELD,
        S.CLOSED: CustomersInside.PROCESSED,
        S.FROZEN: CustomersInside.HELD,
        S.ERROR: CustomersInside.HELD,
        S.ABORTED: CustomersInside.EXITED,
    }


def test_edit_modes():
    assert {s for s in Status if traits(s).edit_mode is EditMode.PENDING} == {
        S.PAUSED,
        S.CLOSED,
        S.FROZEN,
    }
    assert traits(S.DESIGNING).edit_mode is EditMode.DRAFT
    assert traits(S.SCHEDULED).edit_mode is EditMode.LIVE


def test_the_transition_table_matches_the_spec():
    assert TRANSITION_TABLE == TRANSITIONS
    for (status, action), target in TRANSITION_TABLE.items():
        assert target_of(status, action) == target
        assert action in actions_from(status)


def test_nothing_leaves_aborted_and_only_fail_enters_error():
    assert actions_from(S.ABORTED) == []
    assert {key for key, target in TRANSITIONS.items() if target is S.ERROR} == {
        (s, A.FAIL) for s in (S.SCHEDULED, S.ACTIVE, S.PAUSED, S.CLOSED, S.FROZEN)
    }
    assert set(actions_from(S.ERROR)) == {A.RECOVER, A.ABORT}


@pytest.mark.parametrize(("action", "roles"), AUTHORITY.items())
def test_who_may_take_each_action(action, roles):
    assert ACTION_AUTHORITY[action] == roles
    assert {role for role in Role if may_take(role, action)} == roles


def test_caller_actions_are_the_user_and_admin_actions_in_button_order():
    assert CALLER_ACTIONS == (
        A.ACTIVATE,
        A.PAUSE,
        A.RESUME,
        A.FREEZE,
        A.CLOSE,
        A.REACTIVATE,
        A.ABORT,
        A.FAIL,
        A.RECOVER,
    )


def test_only_editors_and_admins_write():
    assert {role for role in Role if may_write(role)} == {Role.EDITOR, Role.ADMIN}


def test_actors():
    assert Actor.system() == Actor(ActorKind.SYSTEM, "system", Role.SYSTEM)
    assert Actor.user("ada", Role.ADMIN) == Actor(ActorKind.USER, "ada", Role.ADMIN)


def test_drafts_and_aborted_journeys_do_not_listen_for_events():
    from domain.entry import listens_for_events

    assert {s for s in Status if not listens_for_events(s)} == {
        Status.DESIGNING,
        Status.ABORTED,
    }
