"""The guards of the transition table and the computed targets (running status,
status before error), one rule per test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.actions import Action
from domain.content import Step, StepType
from domain.errors import TransitionNotAllowed
from domain.statuses import Status
from tests.domain.factories import (
    ADMIN,
    EDITOR,
    END,
    EVENT,
    LATE,
    NOW,
    SEGMENT,
    START,
    STEP,
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


def refuse(journey, action, actor, now, match: str) -> TransitionNotAllowed:
    before = snapshot(journey)
    with pytest.raises(TransitionNotAllowed, match=match) as refused:
        journey.take(action, actor, now)
    assert_unchanged(journey, before)
    return refused.value


# -- ACTIVATE -------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"steps": ()}, "at least one step"),
        ({"steps": (Step(StepType.WAIT),)}, "WAIT step needs seconds"),
        ({"steps": (Step(StepType.SEND, template="welcome"),)}, "channel and a template"),
        ({"steps": (Step(StepType.SEND, channel="log"),)}, "channel and a template"),
        ({"steps": (Step(StepType.WAIT, seconds=5), Step(StepType.WAIT))}, "step 2"),
        ({"trigger_event": None}, "trigger event"),
    ],
)
def test_activate_refuses_incomplete_event_journey(overrides, why):
    journey = new_journey(EVENT, content=ready_content(EVENT, **overrides))
    error = refuse(journey, Action.ACTIVATE, EDITOR, T0, why)
    assert error.status == Status.DESIGNING
    assert error.allowed_actions == []
    assert error.details()["reason"] == error.message


def test_activate_refuses_segment_journey_without_audience():
    journey = new_journey(SEGMENT, content=ready_content(SEGMENT, audience=None))
    refuse(journey, Action.ACTIVATE, EDITOR, T0, "non-empty audience")


def test_segment_journey_needs_no_trigger_event():
    journey = new_journey(SEGMENT, content=ready_content(SEGMENT, trigger_event=None))
    journey.take(Action.ACTIVATE, EDITOR, T0)
    assert journey.status is Status.SCHEDULED


def test_event_journey_needs_no_audience():
    journey = new_journey(EVENT, content=ready_content(EVENT, audience=None))
    journey.take(Action.ACTIVATE, EDITOR, T0)
    assert journey.status is Status.SCHEDULED


@pytest.mark.parametrize("now", [END, END + timedelta(seconds=1), LATE])
def test_activate_refuses_an_end_date_that_is_not_in_the_future(now):
    journey = new_journey()
    refuse(journey, Action.ACTIVATE, EDITOR, now, "end date must be in the future")


def test_activate_lists_every_problem_at_once():
    content = ready_content(
        EVENT, steps=(), trigger_event=None, start_at=None, end_at=at(minutes=1)
    )
    journey = new_journey(content=content)
    error = refuse(journey, Action.ACTIVATE, EDITOR, at(minutes=5), "cannot activate")
    for why in ("at least one step", "trigger event", "end date"):
        assert why in error.message


@pytest.mark.parametrize(
    ("start_at", "now", "expected"),
    [
        (START, T0, Status.SCHEDULED),
        (START, START - timedelta(microseconds=1), Status.SCHEDULED),
        (START, START, Status.ACTIVE),
        (START, NOW, Status.ACTIVE),
        (None, T0, Status.ACTIVE),
    ],
)
def test_activate_goes_to_scheduled_only_while_start_is_ahead(start_at, now, expected):
    journey = new_journey(content=ready_content(start_at=start_at))
    event = journey.take(Action.ACTIVATE, EDITOR, now)
    assert journey.status is expected
    assert event.previous_status is Status.DESIGNING


def test_activate_with_no_end_date_is_allowed():
    journey = new_journey(content=ready_content(end_at=None))
    journey.take(Action.ACTIVATE, EDITOR, LATE)
    assert journey.status is Status.ACTIVE


def test_activate_makes_the_latest_version_live():
    journey = new_journey()
    journey.edit({"end_at": at(days=3)}, EDITOR, T0)
    journey.edit({"start_at": at(hours=5)}, EDITOR, T0)
    assert journey.live_version is None
    event = journey.take(Action.ACTIVATE, EDITOR, T0)
    assert journey.live_version == 3 == journey.latest.number
    assert event.version == 3
    assert (journey.start_at, journey.end_at) == (at(hours=5), at(days=3))
    assert not journey.has_unapplied_changes


def test_activate_judges_the_latest_version_not_the_first():
    journey = new_journey(content=ready_content(steps=()))
    journey.edit({"steps": (Step(StepType.WAIT, seconds=10),)}, EDITOR, T0)
    journey.take(Action.ACTIVATE, EDITOR, T0)
    assert journey.status is Status.SCHEDULED


# -- START, END, AUDIENCE_LOADED -------------------------------------------


def test_start_is_refused_before_the_start_date_and_allowed_from_it():
    journey = journey_in(Status.SCHEDULED)
    assert journey.due_action(START - timedelta(microseconds=1)) is None
    refuse(journey, Action.START, SYSTEM, START - timedelta(microseconds=1), "not due")
    assert journey.due_action(START) is Action.START
    journey.take(Action.START, SYSTEM, START)
    assert journey.status is Status.ACTIVE


def test_end_is_refused_before_the_end_date_and_allowed_from_it():
    journey = journey_in(Status.ACTIVE)
    refuse(journey, Action.END, SYSTEM, END - timedelta(microseconds=1), "not due")
    assert journey.due_action(END) is Action.END
    journey.take(Action.END, SYSTEM, END)
    assert journey.status is Status.CLOSED
    assert journey.due_action(LATE) is None


def test_end_never_falls_due_without_an_end_date():
    journey = journey_in(Status.ACTIVE, content=ready_content(end_at=None))
    far = at(days=10_000)
    assert journey.due_action(far) is None
    refuse(journey, Action.END, SYSTEM, far, "not due")


@pytest.mark.parametrize(
    "status", [s for s in Status if s not in (Status.SCHEDULED, Status.ACTIVE)]
)
def test_nothing_falls_due_outside_scheduled_and_active(status):
    journey = journey_in(status)
    assert journey.due_action(LATE) is None


def test_a_paused_journey_stays_paused_past_its_end_date():
    journey = journey_in(Status.PAUSED)
    assert journey.due_action(LATE) is None
    refuse(journey, Action.END, SYSTEM, LATE, "END is not allowed from PAUSED")
    assert journey.admits_new_audience(NOW)
    assert not journey.admits_new_audience(LATE)


def test_audience_loaded_closes_a_segment_journey_and_remembers_it():
    journey = journey_in(Status.ACTIVE, SEGMENT)
    journey.take(Action.AUDIENCE_LOADED, SYSTEM, NOW)
    assert journey.status is Status.CLOSED
    assert journey.audience_fully_entered


def test_audience_loaded_is_refused_for_an_event_journey():
    journey = journey_in(Status.ACTIVE, EVENT)
    refuse(journey, Action.AUDIENCE_LOADED, SYSTEM, NOW, "only a segment journey")


@pytest.mark.parametrize("status", [Status.SCHEDULED, Status.PAUSED, Status.FROZEN])
def test_audience_loaded_only_from_active(status):
    journey = journey_in(status, SEGMENT)
    refuse(journey, Action.AUDIENCE_LOADED, SYSTEM, NOW, "not allowed")


# -- RESUME ------------------------------------------------------------------


def test_resume_keeps_the_live_version_and_its_dates():
    journey = journey_in(Status.PAUSED)
    journey.edit({"end_at": at(days=20)}, EDITOR, NOW)
    event = journey.take(Action.RESUME, EDITOR, NOW)
    assert journey.status is Status.ACTIVE
    assert journey.live_version == 1
    assert event.version == 1
    assert journey.end_at == END
    assert journey.has_unapplied_changes
    assert journey.latest.number == 2


def test_resume_after_the_end_date_closes_the_journey():
    journey = journey_in(Status.PAUSED)
    journey.take(Action.RESUME, EDITOR, LATE)
    assert journey.status is Status.CLOSED


def test_resume_ignores_a_later_end_date_that_is_only_pending():
    journey = journey_in(Status.PAUSED)
    journey.edit({"end_at": at(days=20)}, EDITOR, NOW)
    journey.take(Action.RESUME, EDITOR, LATE)
    assert journey.status is Status.CLOSED


def test_resume_of_a_segment_journey_whose_audience_has_entered_closes_it():
    journey = journey_in(Status.ACTIVE, SEGMENT)
    journey.audience_fully_entered = True  # as AUDIENCE_LOADED would leave it
    journey.take(Action.PAUSE, EDITOR, NOW)
    journey.take(Action.RESUME, EDITOR, NOW)
    assert journey.status is Status.CLOSED


# -- REACTIVATE --------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.PAUSED, Status.FROZEN, Status.CLOSED])
def test_reactivate_applies_the_latest_version(status):
    journey = journey_in(status)
    journey.edit({"end_at": at(days=20), "trigger_event": "purchase"}, EDITOR, NOW)
    assert journey.has_unapplied_changes
    event = journey.take(Action.REACTIVATE, EDITOR, NOW)
    assert journey.status is Status.ACTIVE
    assert journey.live_version == journey.latest.number == 2
    assert event.version == 2
    assert (journey.end_at, journey.trigger_event) == (at(days=20), "purchase")
    assert not journey.has_unapplied_changes


def test_reactivate_from_closed_is_refused_while_the_end_date_has_passed():
    journey = journey_in(Status.ACTIVE)
    journey.take(Action.END, SYSTEM, END)
    error = refuse(journey, Action.REACTIVATE, EDITOR, LATE, "end date has passed")
    assert Action.REACTIVATE not in error.allowed_actions
    assert Action.REACTIVATE not in journey.available_actions(EDITOR.role, LATE)


def test_reactivate_from_closed_after_a_later_end_date_is_saved():
    journey = journey_in(Status.ACTIVE)
    journey.take(Action.END, SYSTEM, END)
    journey.edit({"end_at": at(days=30)}, EDITOR, LATE)
    assert journey.end_at == END  # pending until REACTIVATE
    assert Action.REACTIVATE in journey.available_actions(EDITOR.role, LATE)
    journey.take(Action.REACTIVATE, EDITOR, LATE)
    assert journey.status is Status.ACTIVE
    assert journey.end_at == at(days=30)
    assert journey.admits_new_audience(LATE)


def test_reactivate_from_closed_judges_the_latest_end_date_not_the_live_one():
    journey = journey_in(Status.CLOSED)  # live end date still ahead at NOW
    journey.edit({"end_at": at(hours=1, minutes=30)}, EDITOR, NOW)  # pending: already past
    refuse(journey, Action.REACTIVATE, EDITOR, NOW, "would leave it CLOSED")


def test_reactivate_from_closed_into_a_later_start_schedules_it():
    journey = journey_in(Status.CLOSED)
    journey.edit({"start_at": at(days=2), "end_at": at(days=30)}, EDITOR, NOW)
    journey.take(Action.REACTIVATE, EDITOR, NOW)
    assert journey.status is Status.SCHEDULED
    assert journey.due_action(at(days=2)) is Action.START


def test_reactivate_from_closed_is_refused_once_the_audience_has_fully_entered():
    journey = journey_in(Status.ACTIVE, SEGMENT)
    journey.take(Action.AUDIENCE_LOADED, SYSTEM, NOW)
    journey.edit({"end_at": at(days=30)}, EDITOR, NOW)
    refuse(journey, Action.REACTIVATE, EDITOR, NOW, "audience has fully entered")


@pytest.mark.parametrize("status", [Status.PAUSED, Status.FROZEN])
def test_reactivate_from_paused_or_frozen_may_land_in_closed(status):
    journey = journey_in(status)
    journey.take(Action.REACTIVATE, EDITOR, LATE)
    assert journey.status is Status.CLOSED


@pytest.mark.parametrize("status", [Status.PAUSED, Status.FROZEN, Status.CLOSED])
def test_reactivate_refuses_a_latest_version_that_is_not_ready(status):
    journey = journey_in(status)
    journey.edit({"steps": ()}, EDITOR, NOW)
    refuse(journey, Action.REACTIVATE, EDITOR, NOW, "cannot reactivate: .*at least one step")
    assert journey.live_version == 1


def test_reactivate_from_a_scheduled_then_frozen_journey_reschedules_it():
    journey = journey_in(Status.SCHEDULED)
    journey.take(Action.FREEZE, EDITOR, at(minutes=10))
    journey.take(Action.REACTIVATE, EDITOR, at(minutes=20))
    assert journey.status is Status.SCHEDULED


# -- FAIL and RECOVER --------------------------------------------------------


@pytest.mark.parametrize(
    "status", [Status.SCHEDULED, Status.ACTIVE, Status.PAUSED, Status.CLOSED, Status.FROZEN]
)
def test_fail_remembers_the_status_it_left_and_the_reason(status):
    journey = journey_in(status)
    journey.take(Action.FAIL, SYSTEM, STEP, reason="webhook keeps failing")
    assert journey.status is Status.ERROR
    assert journey.status_before_error is status
    assert journey.error_reason == "webhook keeps failing"
    assert not journey.processes_steps
    assert not journey.admits_new_audience(NOW)


def test_fail_without_a_reason_still_records_one():
    journey = journey_in(Status.ACTIVE)
    journey.take(Action.FAIL, ADMIN, NOW)
    assert journey.error_reason


def test_fail_again_from_error_is_refused_and_keeps_the_first_status():
    journey = failed_from(Status.PAUSED)
    before = snapshot(journey)
    with pytest.raises(TransitionNotAllowed):
        journey.take(Action.FAIL, SYSTEM, NOW, reason="second fault")
    assert_unchanged(journey, before)
    assert journey.status_before_error is Status.PAUSED


@pytest.mark.parametrize(
    ("left", "now", "expected"),
    [
        (Status.ACTIVE, NOW, Status.ACTIVE),
        (Status.ACTIVE, LATE, Status.CLOSED),  # re-evaluated: the end date passed
        (Status.SCHEDULED, STEP, Status.ACTIVE),  # re-evaluated: the start date passed
        (Status.PAUSED, NOW, Status.PAUSED),
        (Status.PAUSED, LATE, Status.PAUSED),  # a paused journey stays paused
        (Status.FROZEN, LATE, Status.FROZEN),
        (Status.CLOSED, NOW, Status.CLOSED),
    ],
)
def test_recover_returns_to_the_status_it_left_reevaluated(left, now, expected):
    journey = failed_from(left)
    journey.take(Action.RECOVER, ADMIN, now)
    assert journey.status is expected
    assert journey.status_before_error is None
    assert journey.error_reason is None


def test_recover_of_a_scheduled_journey_whose_start_is_still_ahead():
    journey = journey_in(Status.SCHEDULED)
    journey.take(Action.FAIL, SYSTEM, at(minutes=10))
    journey.take(Action.RECOVER, SYSTEM, at(minutes=20))
    assert journey.status is Status.SCHEDULED


def test_recover_keeps_the_live_version_and_pending_edits():
    journey = journey_in(Status.PAUSED)
    journey.edit({"end_at": at(days=30)}, EDITOR, NOW)
    journey.take(Action.FAIL, ADMIN, NOW)
    journey.take(Action.RECOVER, ADMIN, LATE)
    assert journey.status is Status.PAUSED
    assert journey.live_version == 1
    assert journey.has_unapplied_changes


def test_abort_from_error():
    journey = failed_from(Status.ACTIVE)
    journey.take(Action.ABORT, EDITOR, NOW)
    assert journey.status is Status.ABORTED
    assert not journey.available_actions(ADMIN.role, NOW)


def test_aborted_journey_neither_admits_nor_processes():
    journey = journey_in(Status.ABORTED)
    assert not journey.admits_new_audience(NOW)
    assert not journey.processes_steps
