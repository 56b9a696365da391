"""domain.content: normalizing, revising, readiness, names and labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.audience import MAX_INLINE_AUDIENCE, inline_audience
from domain.channels import CHANNELS
from domain.content import (
    MAX_LABEL_LENGTH,
    MAX_LABELS,
    MAX_NAME_LENGTH,
    AudienceList,
    Content,
    JourneyKind,
    Step,
    StepType,
    checked_labels,
    checked_name,
    normalized,
    readiness_problems,
    revise,
)
from domain.errors import ValidationFailed
from domain.steps import MAX_STEPS, MAX_WAIT_SECONDS
from domain.text import MAX_TEXT_LENGTH
from tests.domain.factories import END, EVENT, SEGMENT, START, ready_content

W = StepType.WAIT
S = StepType.SEND
SEND_NEEDS = "a SEND step needs a channel and a template"


def test_the_limits_are_those_the_project_documents():
    assert CHANNELS == ("log", "webhook", "email")
    assert MAX_NAME_LENGTH == 200


# -- normalized -----------------------------------------------------------------


def test_normalized_keeps_valid_content():
    content = Content(steps=(Step(W, seconds=5),), audience=AudienceList("list-1", 3))
    assert normalized(content) == content


def test_an_inline_audience_keeps_each_customer_once_in_order():
    assert inline_audience(["b", "a", "b", "c", "a"]) == ("b", "a", "c")


@pytest.mark.parametrize(
    ("customer_ids", "why"),
    [
        (["c1", ""], "1 customer id\\(s\\) in audience are not valid"),
        (["c" * 201], "first 'ccc"),
        (["ok", "tab\there"], "first 'tab\\\\there'"),
        ([str(i) for i in range(MAX_INLINE_AUDIENCE + 1)], "at most 10000"),
    ],
)
def test_an_inline_audience_refuses(customer_ids, why):
    with pytest.raises(ValidationFailed, match=why):
        inline_audience(customer_ids)


def test_an_inline_audience_takes_the_limit():
    assert len(inline_audience([str(i) for i in range(MAX_INLINE_AUDIENCE)])) == MAX_INLINE_AUDIENCE


def test_normalized_accepts_any_utc_offset():
    paris = timezone(timedelta(hours=1))
    content = Content(
        start_at=datetime(2030, 1, 1, 9, tzinfo=paris),
        end_at=datetime(2030, 1, 1, 9, 1, tzinfo=paris),
    )
    assert normalized(content) == content


def test_normalized_compares_dates_across_offsets():
    # 09:00+01:00 is 08:00 UTC: an end at 08:30 UTC is after it.
    content = Content(
        start_at=datetime(2030, 1, 1, 9, tzinfo=timezone(timedelta(hours=1))),
        end_at=datetime(2030, 1, 1, 8, 30, tzinfo=UTC),
    )
    assert normalized(content) == content


def test_empty_content_is_a_valid_draft():
    assert normalized(Content()) == Content()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (Content(start_at=datetime(2030, 1, 1)), "startAt must carry a UTC offset"),
        (Content(end_at=datetime(2030, 1, 1)), "endAt must carry a UTC offset"),
        (Content(start_at=START, end_at=START), "endAt must be after startAt"),
        (Content(start_at=END, end_at=START), "endAt must be after startAt"),
        (Content(trigger_event=""), "triggerEvent must not be blank"),
        (Content(trigger_event="e" * (MAX_TEXT_LENGTH + 1)), "triggerEvent is longer"),
        (Content(steps=(Step(W, seconds=1),) * (MAX_STEPS + 1)), "at most 100 steps"),
        (Content(steps=(Step(W, seconds=0),)), "seconds must be between"),
        (Content(steps=(Step(W, seconds=-5),)), "seconds must be between"),
        (Content(steps=(Step(W, seconds=MAX_WAIT_SECONDS + 1),)), "seconds must be between"),
        (Content(steps=(Step(W, seconds=5, channel="log"),)), "WAIT step takes no channel"),
        (Content(steps=(Step(W, seconds=5, template="t"),)), "WAIT step takes no channel"),
        (Content(steps=(Step(S, seconds=5, channel="log", template="t"),)), "takes no seconds"),
        (Content(steps=(Step(S, channel="sms", template="t"),)), "unknown channel 'sms'"),
        (Content(steps=(Step(S, channel="log", template=" "),)), "template must not be blank"),
        (Content(steps=(Step(S, channel="log", template="t" * 201),)), "template is longer"),
    ],
)
def test_normalized_refuses(content, why):
    with pytest.raises(ValidationFailed, match=why) as refused:
        normalized(content)
    assert refused.value.code == "VALIDATION_FAILED"


def test_normalized_names_the_step_at_fault():
    content = Content(steps=(Step(W, seconds=5), Step(S, channel="fax", template="t")))
    with pytest.raises(ValidationFailed, match=r"step 2 \(SEND\)"):
        normalized(content)


def test_normalized_reports_every_problem_together():
    content = Content(trigger_event=" ", steps=(Step(S, channel="fax", template="t"),))
    with pytest.raises(ValidationFailed) as refused:
        normalized(content)
    assert "triggerEvent" in refused.value.message
    assert "unknown channel" in refused.value.message


@pytest.mark.parametrize(
    "step",
    [
        Step(W, seconds=1),
        Step(W, seconds=MAX_WAIT_SECONDS),
        Step(W),  # incomplete, but a draft may hold it
        Step(S, channel="webhook", template="t"),
        Step(S, channel="log"),
        Step(S),
    ],
)
def test_normalized_accepts_draft_steps(step):
    assert normalized(Content(steps=(step,))).steps == (step,)


def test_normalized_accepts_the_limits():
    content = Content(
        trigger_event="e" * MAX_TEXT_LENGTH,
        steps=(Step(W, seconds=1),) * MAX_STEPS,
    )
    assert normalized(content) == content


# -- revise -----------------------------------------------------------------------


def test_revise_changes_only_the_named_fields():
    content = ready_content()
    revised = revise(content, {"end_at": END + timedelta(days=1)})
    assert revised == Content(
        steps=content.steps,
        start_at=content.start_at,
        end_at=END + timedelta(days=1),
        trigger_event=content.trigger_event,
        audience=content.audience,
    )
    assert content.end_at == END  # the original is untouched


def test_revise_may_clear_a_field_with_none():
    assert revise(ready_content(), {"start_at": None}).start_at is None


def test_revise_with_no_changes_is_the_same_content():
    assert revise(ready_content(), {}) == ready_content()


def test_revise_validates_the_result():
    with pytest.raises(ValidationFailed, match="endAt must be after startAt"):
        revise(ready_content(), {"start_at": END})


def test_revise_refers_to_another_list():
    other = AudienceList("list-2", 7)
    assert revise(ready_content(SEGMENT), {"audience": other}).audience == other


def test_revise_refuses_unknown_fields():
    with pytest.raises(ValueError, match="name"):
        revise(ready_content(), {"name": "x"})


# -- readiness_problems --------------------------------------------------------------


@pytest.mark.parametrize("kind", list(JourneyKind))
def test_ready_content_has_no_problems(kind):
    assert readiness_problems(kind, ready_content(kind)) == []


@pytest.mark.parametrize(
    ("kind", "overrides", "expected"),
    [
        (EVENT, {"steps": ()}, ["the journey needs at least one step"]),
        (EVENT, {"steps": (Step(W),)}, ["step 1: a WAIT step needs seconds"]),
        (
            EVENT,
            {"steps": (Step(S, channel="log"),)},
            ["step 1: a SEND step needs a channel and a template"],
        ),
        (
            EVENT,
            {"steps": (Step(S, template="t"),)},
            ["step 1: a SEND step needs a channel and a template"],
        ),
        (
            EVENT,
            {"steps": (Step(W, seconds=1), Step(S), Step(W))},
            [
                "step 2: a SEND step needs a channel and a template",
                "step 3: a WAIT step needs seconds",
            ],
        ),
        (EVENT, {"trigger_event": None}, ["an event-triggered journey needs a trigger event"]),
        (
            SEGMENT,
            {"audience": None},
            ["a segment journey needs a non-empty audience list or an audience condition"],
        ),
        (
            SEGMENT,
            {"audience": AudienceList("empty", 0)},
            ["a segment journey needs a non-empty audience list or an audience condition"],
        ),
        (
            SEGMENT,
            {"steps": (), "audience": None},
            [
                "the journey needs at least one step",
                "a segment journey needs a non-empty audience list or an audience condition",
            ],
        ),
    ],
)
def test_readiness_problems(kind, overrides, expected):
    assert readiness_problems(kind, ready_content(kind, **overrides)) == expected


def test_readiness_ignores_the_dates():
    content = ready_content(start_at=None, end_at=None)
    assert readiness_problems(EVENT, content) == []


# -- checked_name, checked_labels -----------------------------------------------------


def test_checked_name_strips_and_keeps_up_to_the_limit():
    assert checked_name("  Spring  ") == "Spring"
    assert checked_name("n" * MAX_NAME_LENGTH) == "n" * MAX_NAME_LENGTH
    assert checked_name(" " + "n" * MAX_NAME_LENGTH + " ") == "n" * MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("name", "why"), [("", "empty"), ("\t \n", "empty"), ("n" * 201, "longer")]
)
def test_checked_name_refuses(name, why):
    with pytest.raises(ValidationFailed, match=why):
        checked_name(name)


def test_checked_labels_strips_and_deduplicates_in_order():
    assert checked_labels([" vip", "q1", "vip ", "q2"]) == ("vip", "q1", "q2")
    assert checked_labels([]) == ()


def test_checked_labels_accepts_the_limits():
    labels = [f"l{i}" for i in range(MAX_LABELS)]
    assert checked_labels(labels) == tuple(labels)
    assert checked_labels(["x" * MAX_LABEL_LENGTH]) == ("x" * MAX_LABEL_LENGTH,)


def test_checked_labels_counts_after_deduplication():
    labels = [f"l{i}" for i in range(MAX_LABELS)] * 2
    assert len(checked_labels(labels)) == MAX_LABELS


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ([f"l{i}" for i in range(MAX_LABELS + 1)], "at most 20 labels"),
        ([""], "1 to 50 characters"),
        (["ok", "  "], "1 to 50 characters"),
        (["x" * (MAX_LABEL_LENGTH + 1)], "1 to 50 characters"),
    ],
)
def test_checked_labels_refuses(labels, why):
    with pytest.raises(ValidationFailed, match=why):
        checked_labels(labels)
