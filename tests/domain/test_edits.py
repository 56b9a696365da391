"""Edits, versions, restore, rename and labels, copy, delete, revisions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.actions import Action, Role
from domain.content import AudienceList, Step, StepType
from domain.errors import RevisionConflict, TransitionNotAllowed, ValidationFailed
from domain.journey import Journey
from domain.statuses import EditMode, Status
from tests.domain.factories import (
    ADMIN,
    EDITOR,
    END,
    LATE,
    NOW,
    SEGMENT,
    START,
    T0,
    assert_unchanged,
    at,
    journey_in,
    new_journey,
    ready_content,
    snapshot,
)

PENDING_STATUSES = [Status.PAUSED, Status.FROZEN, Status.CLOSED]
LOCKED_STATUSES = [Status.ACTIVE, Status.ERROR, Status.ABORTED]
NAIVE = datetime(2030, 6, 1, 9, 0)


def test_edit_mode_of_each_status_follows_the_status_table():
    expected = {
        Status.DESIGNING: EditMode.DRAFT,
        Status.SCHEDULED: EditMode.LIVE,
        Status.ACTIVE: EditMode.LOCKED,
        Status.PAUSED: EditMode.PENDING,
        Status.CLOSED: EditMode.PENDING,
        Status.FROZEN: EditMode.PENDING,
        Status.ERROR: EditMode.LOCKED,
        Status.ABORTED: EditMode.LOCKED,
    }
    assert {status: journey_in(status).edit_mode for status in Status} == expected


# -- DESIGNING ----------------------------------------------------------------


def test_create_saves_version_one_and_nothing_is_live():
    journey = new_journey()
    assert journey.status is Status.DESIGNING
    assert journey.revision == 1
    assert journey.latest.number == 1
    assert journey.latest.created_by == EDITOR.name
    assert journey.latest.created_at == T0
    assert journey.new_versions == [journey.latest]
    assert journey.live_version is None
    assert not journey.has_unapplied_changes
    assert journey.events == []  # creating a journey is not a status event
    assert journey.status_changed_at is None


def test_edit_in_designing_saves_a_draft_version_shown_as_the_content():
    journey = new_journey()
    version = journey.edit({"start_at": at(days=1), "trigger_event": "purchase"}, ADMIN, NOW)
    assert version.number == 2
    assert version.created_by == ADMIN.name
    assert version.created_at == NOW
    assert journey.latest is version
    assert journey.new_versions[-1] is version
    assert journey.live_version is None
    assert not journey.has_unapplied_changes
    assert (journey.start_at, journey.trigger_event) == (at(days=1), "purchase")
    assert journey.revision == 2
    assert journey.updated_at == NOW
    assert journey.status is Status.DESIGNING


def test_edit_keeps_fields_it_does_not_name():
    journey = new_journey()
    journey.edit({"trigger_event": "purchase"}, EDITOR, NOW)
    assert journey.latest.content == ready_content(trigger_event="purchase")


def test_a_draft_may_be_incomplete():
    journey = new_journey()
    journey.edit({"steps": (Step(StepType.WAIT),), "trigger_event": None}, EDITOR, NOW)
    assert journey.latest.number == 2


# -- SCHEDULED: live at once ------------------------------------------------------


def test_edit_in_scheduled_is_live_at_once_and_replans_start():
    journey = journey_in(Status.SCHEDULED)
    journey.edit({"start_at": at(hours=3)}, EDITOR, at(minutes=10))
    assert journey.live_version == journey.latest.number == 2
    assert journey.start_at == at(hours=3)
    assert not journey.has_unapplied_changes
    assert journey.status is Status.SCHEDULED
    assert journey.due_action(START) is None
    assert journey.due_action(at(hours=3)) is Action.START


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"steps": ()}, "at least one step"),
        ({"steps": (Step(StepType.SEND, channel="log"),)}, "channel and a template"),
        ({"trigger_event": None}, "trigger event"),
        ({"start_at": None, "end_at": at(minutes=5)}, "end date must be in the future"),
    ],
)
def test_edit_in_scheduled_must_stay_ready_to_run(changes, why):
    journey = journey_in(Status.SCHEDULED)
    before = snapshot(journey)
    with pytest.raises(ValidationFailed, match=why):
        journey.edit(changes, EDITOR, at(minutes=10))
    assert_unchanged(journey, before)


def test_edit_in_scheduled_segment_journey_needs_an_audience():
    journey = journey_in(Status.SCHEDULED, SEGMENT)
    with pytest.raises(ValidationFailed, match="audience"):
        journey.edit({"audience": None}, EDITOR, at(minutes=10))


@pytest.mark.parametrize("status", [Status.DESIGNING, Status.SCHEDULED])
def test_a_segment_list_may_change_before_the_journey_runs(status):
    journey = journey_in(status, SEGMENT)
    other = AudienceList("list-2", 5)
    journey.edit({"audience": other}, EDITOR, at(minutes=10))
    assert journey.latest.content.audience == other


@pytest.mark.parametrize("status", [Status.PAUSED, Status.FROZEN, Status.CLOSED])
def test_a_segment_list_is_fixed_once_the_journey_has_run(status):
    journey = journey_in(status, SEGMENT)
    before = snapshot(journey)
    with pytest.raises(TransitionNotAllowed, match=r"list of a .* journey cannot change"):
        journey.edit({"audience": AudienceList("list-2", 5)}, EDITOR, NOW)
    assert_unchanged(journey, before)
    # Other content still takes pending edits, and the same list is no change.
    journey.edit({"audience": journey.latest.content.audience, "trigger_event": None}, EDITOR, NOW)


# -- PAUSED, FROZEN, CLOSED: pending ---------------------------------------------


@pytest.mark.parametrize("status", PENDING_STATUSES)
def test_edit_in_a_held_or_closed_status_is_pending_until_reactivate(status):
    journey = journey_in(status)
    version = journey.edit(
        {"start_at": at(minutes=30), "end_at": at(days=30), "trigger_event": "purchase"},
        EDITOR,
        NOW,
    )
    assert version.number == 2
    assert journey.latest is version
    assert journey.live_version == 1
    assert journey.has_unapplied_changes
    assert (journey.start_at, journey.end_at, journey.trigger_event) == (START, END, "signup")
    assert journey.status is status
    journey.take(Action.REACTIVATE, EDITOR, NOW)
    assert journey.live_version == 2
    assert (journey.start_at, journey.end_at, journey.trigger_event) == (
        at(minutes=30),
        at(days=30),
        "purchase",
    )


@pytest.mark.parametrize("status", PENDING_STATUSES)
def test_a_pending_version_may_be_incomplete(status):
    journey = journey_in(status)
    journey.edit({"steps": ()}, EDITOR, NOW)
    assert journey.has_unapplied_changes


def test_several_pending_edits_stack_up_and_reactivate_applies_the_last():
    journey = journey_in(Status.FROZEN)
    journey.edit({"end_at": at(days=20)}, EDITOR, NOW)
    journey.edit({"end_at": at(days=25)}, EDITOR, NOW)
    assert journey.latest.number == 3
    journey.take(Action.REACTIVATE, EDITOR, NOW)
    assert journey.live_version == 3
    assert journey.end_at == at(days=25)


# -- ACTIVE, ERROR, ABORTED: locked -----------------------------------------------


@pytest.mark.parametrize("status", LOCKED_STATUSES)
def test_edit_in_a_locked_status_is_refused_and_changes_nothing(status):
    journey = journey_in(status)
    before = snapshot(journey)
    with pytest.raises(TransitionNotAllowed, match="cannot be edited") as refused:
        journey.edit({"end_at": at(days=20)}, EDITOR, NOW)
    assert_unchanged(journey, before)
    assert refused.value.status == status
    assert refused.value.allowed_actions == journey.available_actions(Role.EDITOR, NOW)


def test_edit_refusal_in_active_says_to_pause_or_freeze_first():
    journey = journey_in(Status.ACTIVE)
    with pytest.raises(TransitionNotAllowed, match="pause or freeze"):
        journey.edit({"end_at": at(days=20)}, EDITOR, NOW)


@pytest.mark.parametrize("status", list(Status))
def test_may_be_edited_by(status):
    journey = journey_in(status)
    editable = status not in LOCKED_STATUSES
    assert journey.may_be_edited_by(Role.EDITOR) is editable
    assert journey.may_be_edited_by(Role.ADMIN) is editable
    assert journey.may_be_edited_by(Role.VIEWER) is False


# -- validation of what an edit or a creation saves --------------------------------


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"start_at": NAIVE}, "startAt must carry a UTC offset"),
        ({"end_at": NAIVE}, "endAt must carry a UTC offset"),
        ({"end_at": START}, "endAt must be after startAt"),
        ({"end_at": START - timedelta(seconds=1)}, "endAt must be after startAt"),
        ({"start_at": END}, "endAt must be after startAt"),
        ({"steps": (Step(StepType.SEND, channel="sms", template="t"),)}, "unknown channel"),
        ({"steps": (Step(StepType.WAIT, seconds=0),)}, "seconds must be between"),
        ({"trigger_event": "  "}, "triggerEvent must not be blank"),
    ],
)
@pytest.mark.parametrize("status", [Status.DESIGNING, Status.SCHEDULED, Status.PAUSED])
def test_edit_refuses_invalid_values_in_every_editable_status(status, changes, why):
    journey = journey_in(status)
    before = snapshot(journey)
    with pytest.raises(ValidationFailed, match=why):
        journey.edit(changes, EDITOR, at(minutes=100))
    assert_unchanged(journey, before)


def test_edit_of_an_unknown_field_is_a_programming_error():
    journey = new_journey()
    with pytest.raises(ValueError, match="not content fields"):
        journey.edit({"name": "x"}, EDITOR, NOW)


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"start_at": NAIVE, "end_at": None}, "UTC offset"),
        ({"end_at": START}, "endAt must be after startAt"),
        ({"steps": (Step(StepType.SEND, channel="pigeon", template="t"),)}, "unknown channel"),
    ],
)
def test_create_refuses_invalid_content(overrides, why):
    with pytest.raises(ValidationFailed, match=why):
        new_journey(content=ready_content(**overrides))


@pytest.mark.parametrize(
    ("name", "why"),
    [("", "must not be empty"), ("   ", "must not be empty"), ("x" * 201, "longer than 200")],
)
def test_create_refuses_a_bad_name(name, why):
    with pytest.raises(ValidationFailed, match=why):
        new_journey(name=name)


def test_create_accepts_a_200_character_name_and_strips_blanks():
    assert new_journey(name="x" * 200).name == "x" * 200
    assert new_journey(name="  Spring sale  ").name == "Spring sale"


def test_create_refuses_too_many_labels():
    with pytest.raises(ValidationFailed, match="at most 20 labels"):
        new_journey(labels=tuple(f"l{i}" for i in range(21)))


def test_create_keeps_labels_cleaned():
    journey = new_journey(labels=(" q1 ", "vip", "q1"))
    assert journey.labels == ("q1", "vip")


# -- restore ------------------------------------------------------------------------


def test_restore_saves_an_old_version_as_the_newest_one():
    journey = new_journey()
    first = journey.latest
    journey.edit({"end_at": at(days=3), "trigger_event": "purchase"}, EDITOR, NOW)
    restored = journey.restore(first, ADMIN, LATE)
    assert restored.number == 3
    assert restored.content == first.content
    assert restored.created_by == ADMIN.name
    assert restored.created_at == LATE
    assert journey.latest is restored
    assert [v.number for v in journey.new_versions] == [1, 2, 3]
    assert (journey.end_at, journey.trigger_event) == (END, "signup")


@pytest.mark.parametrize("status", PENDING_STATUSES)
def test_restore_in_a_pending_status_is_pending(status):
    journey = journey_in(status)
    journey.edit({"end_at": at(days=30)}, EDITOR, NOW)
    journey.take(Action.REACTIVATE, EDITOR, NOW)
    back_to = {
        Status.PAUSED: Action.PAUSE,
        Status.FROZEN: Action.FREEZE,
        Status.CLOSED: Action.CLOSE,
    }
    journey.take(back_to[status], EDITOR, NOW)
    assert journey.status is status
    restored = journey.restore(journey.new_versions[0], EDITOR, NOW)
    assert restored.number == 3
    assert journey.live_version == 2
    assert journey.end_at == at(days=30)
    assert journey.has_unapplied_changes


@pytest.mark.parametrize("status", LOCKED_STATUSES)
def test_restore_follows_the_edit_rules_in_locked_statuses(status):
    journey = journey_in(status)
    before = snapshot(journey)
    with pytest.raises(TransitionNotAllowed):
        journey.restore(journey.new_versions[0], EDITOR, NOW)
    assert_unchanged(journey, before)


def test_restore_in_scheduled_of_a_version_that_is_no_longer_ready_is_refused():
    journey = new_journey(content=ready_content(steps=()))
    draft = journey.latest
    journey.edit({"steps": ready_content().steps}, EDITOR, T0)
    journey.take(Action.ACTIVATE, EDITOR, T0)
    before = snapshot(journey)
    with pytest.raises(ValidationFailed, match="at least one step"):
        journey.restore(draft, EDITOR, at(minutes=10))
    assert_unchanged(journey, before)


# -- rename and labels ----------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_rename_and_labels_work_in_every_status_and_save_no_version(status):
    journey = journey_in(status)
    revision, latest, status_before = journey.revision, journey.latest, journey.status
    journey.rename("  Black Friday ", EDITOR, LATE)
    journey.set_labels(["q4", "vip"], EDITOR, LATE)
    assert journey.name == "Black Friday"
    assert journey.labels == ("q4", "vip")
    assert journey.revision == revision + 2
    assert journey.updated_at == LATE
    assert journey.latest is latest
    assert journey.status is status_before


@pytest.mark.parametrize("name", ["", " ", "n" * 201])
def test_rename_refuses_a_bad_name_and_changes_nothing(name):
    journey = journey_in(Status.ACTIVE)
    before = snapshot(journey)
    with pytest.raises(ValidationFailed):
        journey.rename(name, EDITOR, NOW)
    assert_unchanged(journey, before)


@pytest.mark.parametrize("labels", [[f"l{i}" for i in range(21)], [""], ["   "], ["x" * 51]])
def test_set_labels_refuses_bad_labels_and_changes_nothing(labels):
    journey = journey_in(Status.PAUSED)
    before = snapshot(journey)
    with pytest.raises(ValidationFailed):
        journey.set_labels(labels, EDITOR, NOW)
    assert_unchanged(journey, before)


# -- copy -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_copy_from_every_status_is_a_new_designing_journey_with_the_latest_content(status):
    source = journey_in(status, SEGMENT)
    if source.edit_mode is EditMode.PENDING:
        source.edit({"end_at": at(days=30)}, EDITOR, NOW)  # a pending version is copied
    source.set_labels(["vip"], EDITOR, NOW)
    before = snapshot(source)
    copy = source.copy(new_id="j2", name=None, author=ADMIN, now=LATE)
    assert_unchanged(source, before)
    assert isinstance(copy, Journey)
    assert copy.id == "j2"
    assert copy.workspace_id == source.workspace_id
    assert copy.copied_from_id == source.id
    assert copy.status is Status.DESIGNING
    assert copy.kind is source.kind
    assert copy.name == "Copy of Welcome flow"
    assert copy.labels == ("vip",)
    assert copy.latest.number == 1
    assert copy.latest.content == source.latest.content
    assert copy.latest.created_by == ADMIN.name
    assert (copy.start_at, copy.end_at) == (
        source.latest.content.start_at,
        source.latest.content.end_at,
    )
    assert copy.live_version is None
    assert copy.events == []
    assert copy.revision == 1
    assert copy.created_at == LATE
    assert not copy.audience_fully_entered
    assert copy.status_before_error is None
    assert copy.error_reason is None


def test_copy_takes_the_given_name_and_checks_it():
    source = journey_in(Status.ABORTED)
    assert source.copy(new_id="j2", name="Again", author=EDITOR, now=NOW).name == "Again"
    with pytest.raises(ValidationFailed):
        source.copy(new_id="j3", name=" ", author=EDITOR, now=NOW)


def test_copy_of_a_journey_with_a_long_name_keeps_within_the_limit():
    source = new_journey(name="n" * 200)
    copy = source.copy(new_id="j2", name=None, author=EDITOR, now=NOW)
    assert len(copy.name) == 200
    assert copy.name.startswith("Copy of ")


def test_a_copy_of_an_ended_journey_can_be_given_new_dates_and_activated():
    source = journey_in(Status.ACTIVE)
    source.take(Action.END, ADMIN.system(), END)
    copy = source.copy(new_id="j2", name=None, author=EDITOR, now=LATE)
    copy.edit({"start_at": None, "end_at": at(days=40)}, EDITOR, LATE)
    copy.take(Action.ACTIVATE, EDITOR, LATE)
    assert copy.status is Status.ACTIVE


# -- delete -------------------------------------------------------------------------


def test_a_designing_journey_may_be_deleted():
    journey = new_journey()
    journey.check_deletable(EDITOR, NOW)
    assert journey.can_be_deleted
    assert journey.may_be_deleted_by(Role.EDITOR)
    assert journey.may_be_deleted_by(Role.ADMIN)
    assert not journey.may_be_deleted_by(Role.VIEWER)


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.DESIGNING])
def test_only_a_designing_journey_may_be_deleted(status):
    journey = journey_in(status)
    before = snapshot(journey)
    with pytest.raises(TransitionNotAllowed, match="cannot be deleted") as refused:
        journey.check_deletable(EDITOR, NOW)
    assert refused.value.status == status
    assert not journey.can_be_deleted
    assert not journey.may_be_deleted_by(Role.ADMIN)
    assert_unchanged(journey, before)


# -- revisions ------------------------------------------------------------------------


def test_check_revision_accepts_the_current_revision_or_none():
    journey = journey_in(Status.PAUSED)
    journey.check_revision(None)
    journey.check_revision(journey.revision)


@pytest.mark.parametrize("delta", [-1, 1])
def test_check_revision_refuses_a_stale_or_future_revision(delta):
    journey = journey_in(Status.PAUSED)
    with pytest.raises(RevisionConflict) as refused:
        journey.check_revision(journey.revision + delta)
    assert refused.value.code == "REVISION_CONFLICT"
    assert refused.value.details() == {"currentRevision": journey.revision}


def test_every_write_bumps_the_revision_by_one():
    journey = new_journey()
    revisions = [journey.revision]
    journey.edit({"end_at": at(days=3)}, EDITOR, T0)
    revisions.append(journey.revision)
    journey.take(Action.ACTIVATE, EDITOR, T0)
    revisions.append(journey.revision)
    journey.rename("Renamed", EDITOR, T0)
    revisions.append(journey.revision)
    journey.set_labels(["a"], EDITOR, T0)
    revisions.append(journey.revision)
    assert revisions == [1, 2, 3, 4, 5]


def test_a_copy_shares_the_list_it_was_copied_with():
    journey = journey_in(Status.CLOSED, SEGMENT)
    copy = journey.copy(new_id="j2", name=None, author=EDITOR, now=NOW)
    assert copy.latest.content.audience == journey.latest.content.audience
