"""Property tests: random runs of commands (actions by any role, edits, restores,
renames, label changes, and the system's sweep of due actions) with time moving
forward, checked step by step against the rules of docs/rules.md.

Each run is recorded as a trace of moves (the journey before and after each
command, and the refusal if any); each check_* function checks one property over
the trace, and one test runs them all on each generated run (generating runs
is the costly part, so sharing them keeps the suite fast).
The take/edit oracles below are written from the spec, not from domain/.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.actions import Action, Role
from domain.content import AudienceList, Content, JourneyKind, Step, StepType, normalized
from domain.errors import DomainError, Forbidden, TransitionNotAllowed, ValidationFailed
from domain.journey import Journey, replay
from domain.statuses import STATUS_TABLE, Status
from tests.domain.factories import ACTORS, EVENT, READY_STEPS, SEGMENT, SEND, SYSTEM, T0, WAIT
from tests.domain.spec import AUTHORITY, TRANSITION_TABLE

S = Status
A = Action

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# -- the spec, as the tests read it -------------------------------------------------

ADMITS = {S.ACTIVE, S.PAUSED}
PROCESSES = {S.ACTIVE, S.CLOSED}
LOCKED = {S.ACTIVE, S.ERROR, S.ABORTED}
PENDING = {S.PAUSED, S.FROZEN, S.CLOSED}


def ready(kind: JourneyKind, content: Content) -> bool:
    steps_ok = bool(content.steps) and all(
        (step.seconds is not None)
        if step.type is StepType.WAIT
        else bool(step.channel and step.template)
        for step in content.steps
    )
    if kind is EVENT:
        return steps_ok and bool(content.trigger_event)
    return steps_ok and content.audience is not None and content.audience.size > 0


def spec_running(start: datetime | None, end: datetime | None, exhausted: bool, now) -> Status:
    if start is not None and now < start:
        return S.SCHEDULED
    if (end is not None and now >= end) or exhausted:
        return S.CLOSED
    return S.ACTIVE


def spec_take(j: Journey, action: Action, role: Role, now: datetime) -> object:
    """The status a take leads to, or the refusal it gets."""
    if role not in AUTHORITY[action]:
        return Forbidden
    target = TRANSITION_TABLE.get((j.status, action))
    if target is None:
        return TransitionNotAllowed
    latest = j.latest.content
    exhausted = j.audience_fully_entered
    if action is A.ACTIVATE:
        if not ready(j.kind, latest) or (latest.end_at is not None and latest.end_at <= now):
            return TransitionNotAllowed
        return spec_running(latest.start_at, latest.end_at, exhausted, now)
    if action is A.START and not (j.start_at is None or j.start_at <= now):
        return TransitionNotAllowed
    if action is A.END and not (j.end_at is not None and j.end_at <= now):
        return TransitionNotAllowed
    if action is A.AUDIENCE_LOADED and j.kind is not SEGMENT:
        return TransitionNotAllowed
    if action is A.RESUME:
        return spec_running(j.start_at, j.end_at, exhausted, now)
    if action is A.REACTIVATE:
        if not ready(j.kind, latest):
            return TransitionNotAllowed
        status = spec_running(latest.start_at, latest.end_at, exhausted, now)
        if j.status is S.CLOSED and status is S.CLOSED:
            return TransitionNotAllowed
        return status
    if action is A.RECOVER:
        left = j.status_before_error
        if left in (S.SCHEDULED, S.ACTIVE):
            return spec_running(j.start_at, j.end_at, exhausted, now)
        return left
    return target


def spec_edit(j: Journey, changes: dict[str, Any], now: datetime) -> object:
    """What an edit does: 'draft', 'live', 'pending', or the refusal it gets."""
    if j.status in LOCKED:
        return TransitionNotAllowed
    if changes.get("audience", j.latest.content.audience) != j.latest.content.audience and (
        j.status not in (S.DESIGNING, S.SCHEDULED)
    ):
        return TransitionNotAllowed  # a list is fixed once the journey has run
    content = Content(
        **{
            name: changes.get(name, getattr(j.latest.content, name))
            for name in ("steps", "start_at", "end_at", "trigger_event", "audience")
        }
    )
    try:
        normalized(content)
    except ValidationFailed:
        return ValidationFailed
    if j.status is S.DESIGNING:
        return "draft"
    if j.status is S.SCHEDULED:
        if not ready(j.kind, content) or (content.end_at is not None and content.end_at <= now):
            return ValidationFailed
        return "live"
    return "pending"


# -- random runs ---------------------------------------------------------------------

STEP_CHOICES = [
    READY_STEPS,
    (WAIT,),
    (SEND, WAIT, SEND),
    (),
    (Step(StepType.WAIT),),
    (Step(StepType.SEND, channel="log"),),
    (Step(StepType.SEND, channel="pigeon", template="t"),),  # invalid channel
]
AUDIENCES = [None, AudienceList("list-1", 1), AudienceList("list-2", 0), AudienceList("list-3", 2)]
TRIGGERS = [None, "signup", "purchase"]

# A date in an edit: None, minutes from the time of the edit, or a naive date.
edit_dates = st.one_of(st.none(), st.integers(-24 * 60, 5 * 24 * 60), st.just("naive"))
changes_st = st.fixed_dictionaries(
    {},
    optional={
        "start_at": edit_dates,
        "end_at": edit_dates,
        "steps": st.sampled_from(STEP_CHOICES),
        "trigger_event": st.sampled_from(TRIGGERS),
        "audience": st.sampled_from(AUDIENCES),
    },
)
minutes = st.integers(0, 3 * 60)
OPS = ["take"] * 10 + ["tick"] * 2 + ["edit"] * 3 + ["restore", "rename", "labels"]
LABELS = [["q1"], [""], ["l"] * 3, [str(i) for i in range(21)]]


@dataclass
class Move:
    op: str
    now: datetime
    before: Journey
    after: Journey
    error: DomainError | None
    action: Action | None = None
    role: Role | None = None
    changes: dict[str, object] | None = None
    expected: object = None  # the oracle's verdict, for take and edit


@dataclass
class Run:
    journey: Journey
    moves: list[Move]


def initial_content(draw) -> tuple[JourneyKind, Content]:
    kind = draw(st.sampled_from([EVENT, SEGMENT]))
    start = draw(st.one_of(st.none(), st.integers(-120, 3 * 24 * 60)))
    length = draw(st.one_of(st.none(), st.integers(1, 5 * 24 * 60)))
    start_at = None if start is None else T0 + timedelta(minutes=start)
    end_at = None if length is None else (start_at or T0) + timedelta(minutes=length)
    # Mostly content that can be activated, so that runs go past DESIGNING.
    if draw(st.integers(0, 3)):
        steps, trigger, audience = READY_STEPS, "signup", AudienceList("list-4", 2)
    else:
        steps = draw(st.sampled_from(STEP_CHOICES[:5]))
        trigger = draw(st.sampled_from(TRIGGERS))
        audience = draw(st.sampled_from(AUDIENCES))
    content = Content(
        steps=steps, start_at=start_at, end_at=end_at, trigger_event=trigger, audience=audience
    )
    return kind, content


def resolve(changes: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Edit dates are drawn as minutes from the time of the edit (or 'naive')."""
    resolved = {}
    for name, value in changes.items():
        if name in ("start_at", "end_at") and value is not None:
            value = datetime(2030, 1, 1) if value == "naive" else now + timedelta(minutes=value)
        resolved[name] = value
    return resolved


def frozen(journey: Journey) -> Journey:
    """A copy for the record. Every field but the two lists holds immutable values."""
    kept = copy.copy(journey)
    kept.events = list(journey.events)
    kept.new_versions = list(journey.new_versions)
    return kept


@st.composite
def runs(draw) -> Run:
    """A journey created at T0 and driven by random commands, time moving forward.

    Actions are drawn with a lean towards those the spec's table has for the
    current status, and roles towards those that may take them, so that runs
    go deep; any action by any role still comes up often.
    """
    kind, content = initial_content(draw)
    journey = Journey.create(
        id="j1",
        workspace_id="acme",
        name="Run",
        kind=kind,
        content=content,
        author=ACTORS[Role.EDITOR],
        now=T0,
    )
    now = T0
    moves: list[Move] = []

    def record(op: str, command, **facts) -> None:
        before = frozen(journey)
        error = None
        try:
            command(now)
        except DomainError as refused:
            error = refused
        moves.append(Move(op, now, before, frozen(journey), error, **facts))

    for index in range(draw(st.integers(10, 40))):
        # Most runs try ACTIVATE first, at T0: a start date ahead schedules them.
        op = "activate" if index == 0 and draw(st.integers(0, 3)) else draw(st.sampled_from(OPS))
        if op == "activate":
            record(
                "take",
                lambda t: journey.take(A.ACTIVATE, ACTORS[Role.EDITOR], t),
                action=A.ACTIVATE,
                role=Role.EDITOR,
                expected=spec_take(journey, A.ACTIVATE, Role.EDITOR, now),
            )
            continue
        if op == "tick":  # the sweep: every due action, by the system
            now += timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
            for _sweep in range(3):
                due = journey.due_action(now)
                if due is None:
                    break
                record(
                    "take",
                    lambda t, a=due: journey.take(a, SYSTEM, t),
                    action=due,
                    role=Role.SYSTEM,
                    expected=spec_take(journey, due, Role.SYSTEM, now),
                )
            continue
        now += timedelta(minutes=draw(minutes))
        if op == "take":
            from_here = [a for (source, a) in TRANSITION_TABLE if source is journey.status]
            action = draw(st.sampled_from(from_here * 4 + list(Action)))
            role = draw(st.sampled_from(sorted(AUTHORITY[action]) * 3 + list(Role)))
            reason = draw(st.sampled_from([None, "a reason"]))
            record(
                "take",
                lambda t, a=action, r=role, why=reason: journey.take(a, ACTORS[r], t, why),
                action=action,
                role=role,
                expected=spec_take(journey, action, role, now),
            )
        elif op == "edit":
            changes = resolve(draw(changes_st), now)
            record(
                "edit",
                lambda t, c=changes: journey.edit(c, ACTORS[Role.EDITOR], t),
                changes=changes,
                expected=spec_edit(journey, changes, now),
            )
        elif op == "restore":
            old = draw(st.sampled_from(journey.new_versions))
            changes = {n: getattr(old.content, n) for n in old.content.__dataclass_fields__}
            record(
                "restore",
                lambda t, v=old: journey.restore(v, ACTORS[Role.ADMIN], t),
                changes=changes,
                expected=spec_edit(journey, changes, now),
            )
        elif op == "rename":
            name = draw(st.sampled_from(["Renamed", " ", "n" * 201]))
            record("rename", lambda t, n=name: journey.rename(n, ACTORS[Role.EDITOR], t))
        else:
            labels = draw(st.sampled_from(LABELS))
            record("labels", lambda t, ls=labels: journey.set_labels(ls, ACTORS[Role.EDITOR], t))
    return Run(journey, moves)


def status_changed(move: Move) -> bool:
    return move.before.status is not move.after.status


# -- properties: each check looks at one rule over a whole run ------------------------


def check_every_take_agrees_with_the_transition_table_and_guards(run: Run) -> None:
    for move in run.moves:
        if move.op != "take":
            continue
        before, after = move.before, move.after
        if isinstance(move.expected, Status):
            assert move.error is None, (move.action, move.role, before.status, move.error)
            assert after.status is move.expected, (move.action, before.status)
            assert after.latest == before.latest, "a take saves no version"
            if move.action in (A.ACTIVATE, A.REACTIVATE):  # they apply the latest version
                assert after.live_version == after.latest.number
            else:  # every other take keeps the live version
                assert after.live_version == before.live_version
            if move.action is A.AUDIENCE_LOADED:
                assert after.audience_fully_entered
        else:
            assert type(move.error) is move.expected, (move.action, move.role, move.error)


def check_every_edit_and_restore_follows_the_edit_rules(run: Run) -> None:
    for move in run.moves:
        if move.op not in ("edit", "restore"):
            continue
        before, after = move.before, move.after
        if move.expected in (TransitionNotAllowed, ValidationFailed):
            assert type(move.error) is move.expected, (before.status, move.changes, move.error)
            continue
        assert move.error is None, (before.status, move.changes, move.error)
        assert after.status is before.status
        assert after.latest.number == before.latest.number + 1
        assert after.latest.created_at == move.now
        assert after.events == before.events
        if move.expected == "draft":
            assert after.live_version is None
        elif move.expected == "live":
            assert after.live_version == after.latest.number
        else:  # pending
            assert after.live_version == before.live_version
            assert after.has_unapplied_changes
            assert (after.start_at, after.end_at, after.trigger_event) == (
                before.start_at,
                before.end_at,
                before.trigger_event,
            )


def check_a_refused_command_changes_nothing(run: Run) -> None:
    for move in run.moves:
        if move.error is not None:
            assert move.after == move.before
            assert move.after.events == move.before.events
            assert move.after.new_versions == move.before.new_versions


def check_revision_increases_by_one_on_every_success_and_never_on_a_refusal(run: Run) -> None:
    for move in run.moves:
        expected = move.before.revision + (1 if move.error is None else 0)
        assert move.after.revision == expected, (move.op, move.action, move.error)
        if move.error is None:
            assert move.after.updated_at == move.now


def check_aborted_is_absorbing(run: Run) -> None:
    for move in run.moves:
        if move.before.status is S.ABORTED:
            assert move.after.status is S.ABORTED
            if move.op == "take":
                assert move.error is not None
            if move.op in ("edit", "restore"):
                assert isinstance(move.error, TransitionNotAllowed)


def check_error_is_entered_only_by_fail_and_left_only_by_recover_or_abort(run: Run) -> None:
    for move in run.moves:
        if not status_changed(move):
            continue
        assert move.op == "take", "only a take changes the status"
        if move.after.status is S.ERROR:
            assert move.action is A.FAIL
            assert move.role in (Role.ADMIN, Role.SYSTEM)
            assert move.after.status_before_error is move.before.status
            assert move.after.error_reason
        if move.before.status is S.ERROR:
            assert move.action in (A.RECOVER, A.ABORT)
            if move.action is A.RECOVER:
                assert move.role in (Role.ADMIN, Role.SYSTEM)
                assert move.after.status_before_error is None
                assert move.after.error_reason is None
            else:
                assert move.role in (Role.EDITOR, Role.ADMIN)


def check_intake_and_processing_follow_the_status_table_and_the_window(run: Run) -> None:
    for move in run.moves:
        journey, now = move.after, move.now
        in_window = (journey.start_at is None or journey.start_at <= now) and (
            journey.end_at is None or now < journey.end_at
        )
        assert journey.admits_new_audience(now) is (journey.status in ADMITS and in_window)
        assert journey.processes_steps is (journey.status in PROCESSES)
        assert journey.processes_steps is STATUS_TABLE[journey.status].processes_steps
        if journey.admits_new_audience(now):
            assert STATUS_TABLE[journey.status].admits_new_audience


def check_events_replay_to_the_current_status_and_chain_their_statuses(run: Run) -> None:
    journey, moves = run.journey, run.moves
    assert replay(journey.events) is journey.status
    previous = S.DESIGNING
    for event in journey.events:
        assert event.previous_status is previous
        assert event.status is not event.previous_status
        previous = event.status
    for move in moves:
        added = move.after.events[len(move.before.events) :]
        assert move.after.events[: len(move.before.events)] == move.before.events
        if move.op == "take" and move.error is None:
            assert len(added) == 1
            (event,) = added
            assert event.previous_status is move.before.status
            assert event.status is move.after.status
            assert event.action is move.action
            assert move.role is not None
            assert event.actor == ACTORS[move.role].named
            assert event.at == move.now == move.after.status_changed_at
            assert event.version == move.after.live_version
        else:
            assert added == []


def check_versions_and_the_shown_content_stay_consistent(run: Run) -> None:
    for move in run.moves:
        journey = move.after
        versions = journey.new_versions
        assert [v.number for v in versions] == list(range(1, len(versions) + 1))
        assert journey.latest is versions[-1] or journey.latest == versions[-1]
        assert (journey.live_version is None) is (journey.status is S.DESIGNING)
        shown = (
            journey.latest.content
            if journey.live_version is None
            else versions[journey.live_version - 1].content
        )
        assert (journey.start_at, journey.end_at, journey.trigger_event) == (
            shown.start_at,
            shown.end_at,
            shown.trigger_event,
        )
        assert journey.has_unapplied_changes is (
            journey.live_version is not None and journey.latest.number > journey.live_version
        )
        if journey.status is S.SCHEDULED:
            assert not journey.has_unapplied_changes
        if journey.status is S.ACTIVE:
            assert journey.start_at is None or journey.start_at <= move.now
        if journey.live_version is not None:
            assert ready(journey.kind, versions[journey.live_version - 1].content)


def check_available_actions_are_those_that_would_succeed(run: Run) -> None:
    for move in run.moves:
        for role in Role:
            expected = []
            for action in A:
                if action in (A.START, A.END, A.AUDIENCE_LOADED):
                    continue
                verdict = spec_take(move.after, action, role, move.now)
                if isinstance(verdict, Status):
                    expected.append(action)
            assert set(move.after.available_actions(role, move.now)) == set(expected)


@SETTINGS
@given(runs())
def test_random_runs_follow_the_spec_and_keep_the_lifecycle_invariants(run):
    # Judged by the oracles above.
    check_every_take_agrees_with_the_transition_table_and_guards(run)
    check_every_edit_and_restore_follows_the_edit_rules(run)
    check_available_actions_are_those_that_would_succeed(run)
    # Invariants of every run.
    check_a_refused_command_changes_nothing(run)
    check_revision_increases_by_one_on_every_success_and_never_on_a_refusal(run)
    check_aborted_is_absorbing(run)
    check_error_is_entered_only_by_fail_and_left_only_by_recover_or_abort(run)
    check_intake_and_processing_follow_the_status_table_and_the_window(run)
    check_events_replay_to_the_current_status_and_chain_their_statuses(run)
    check_versions_and_the_shown_content_stay_consistent(run)
