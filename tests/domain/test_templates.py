"""A message's templates: parsed at save (the line named), rendered with bounded work, and
no text a customer's data or a template holds gets out of its place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.flow import Node, NodeType
from domain.sending import (
    FREQUENCY_CAPPED,
    NO_EMAIL_ADDRESS,
    Due,
    Fail,
    Hold,
    Send,
    Skip,
    decide,
    reads_profile,
)
from domain.sending_rules import FrequencyCap, QuietHours, SendingRules
from domain.templates import (
    MAX_OUTPUT_BYTES,
    RenderFailed,
    Variables,
    has_markup,
    render,
    template_problem,
)
from tests.conftest import T0

ANN = Variables("ann", {"first_name": "Ann", "n": 3}, {"coupon": "BDAY10"}, "Birthdays")


def test_the_three_variables_render_and_a_missing_one_is_nothing():
    rendered = render(
        "Hi {{ customer.first_name }}",
        "{{ event.coupon }} / {{ journey.name }} / {{ customer.id }} / [{{ customer.nope }}]",
        ANN,
    )
    assert rendered.subject == "Hi Ann"
    assert rendered.body == "BDAY10 / Birthdays / ann / []"


def test_a_template_without_markup_renders_as_itself():
    assert not has_markup("Happy birthday!") and has_markup("Hi {{ x }}")
    assert render("Happy birthday!", None, ANN).subject == "Happy birthday!"


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("Hi {{ customer.first_name ", "line 1"),
        ("Hello\n{% if customer.vip %}\nYou are a VIP", "line 3"),
        ("a\nb\n{% endfor %}", "line 3"),
        ("{% nosuchtag %}", "line 1"),
    ],
)
def test_a_template_that_does_not_parse_is_named_with_its_line(source: str, line: str):
    problem = template_problem("body", source)
    assert problem is not None
    assert problem.startswith("body is not a valid Liquid template: ") and line in problem


NESTED = "{% for i in (1..1000) %}{% for j in (1..1000) %}x{% endfor %}{% endfor %}"


def test_a_loop_over_a_billion_stops_at_the_loop_limit():
    with pytest.raises(RenderFailed, match="template limit"):
        render(None, "{% for i in (1..1000000000) %}x{% endfor %}", ANN)
    with pytest.raises(RenderFailed, match="template limit"):
        render(None, NESTED, ANN)


def test_an_output_of_100_mb_is_stopped_at_the_output_limit():
    doubling = "{% assign s = 'x' %}" + "{% assign s = s | append: s %}" * 27 + "{{ s }}"
    with pytest.raises(RenderFailed, match="template limit"):
        render(None, doubling, ANN)
    many = "{% for i in (1..10000) %}" + "x" * 10_000 + "{% endfor %}"
    with pytest.raises(RenderFailed, match="template limit"):
        render(None, many, ANN)
    fits = render(None, "y" * (MAX_OUTPUT_BYTES - 10), ANN)
    assert len(fits.body) == MAX_OUTPUT_BYTES - 10


def test_a_subject_stays_one_line_whatever_an_attribute_holds():
    evil = Variables("ann", {"first_name": "Ann\r\nBcc: all@example.com\u2028x"}, None, "J")
    assert render("Hi {{ customer.first_name }}", None, evil).subject == (
        "Hi Ann Bcc: all@example.com x"
    )


def test_a_filter_given_what_it_cannot_take_fails_with_a_reason():
    with pytest.raises(RenderFailed, match="divided_by"):
        render(None, "{{ customer.n | divided_by: 0 }}", ANN)
    with pytest.raises(RenderFailed, match="unknown filter"):
        render(None, "{{ customer.n | shout }}", ANN)


@given(st.text(alphabet=st.sampled_from(list("{}%|:. \n'\"aefilnorsx01")), max_size=60))
def test_any_text_either_parses_or_is_refused_and_renders_or_fails_with_a_reason(source: str):
    problem = template_problem("body", source)
    if problem is not None:
        return
    try:
        rendered = render(source, source, ANN)
    except RenderFailed as failed:
        assert failed.reason
    else:
        assert "\n" not in rendered.subject and "\r" not in rendered.subject


# -- what becomes of a message that is due ------------------------------------------------


def due(attributes: dict[str, object], first: bool = True, channel: str = "email") -> Due:
    node = Node("offer", NodeType.SEND, channel=channel, template="t", subject="Hi", body="B")
    return Due(channel, node, Variables("ann", attributes, None, "J"), first_hand_over=first)


def test_an_email_without_an_address_is_skipped_or_a_retry_fails():
    assert isinstance(decide(due({}), SendingRules(), T0, 0), Skip)
    skipped = decide(due({"email": "nope"}), SendingRules(), T0, 0)
    assert isinstance(skipped, Skip) and skipped.reason.startswith(NO_EMAIL_ADDRESS)
    assert isinstance(decide(due({}, first=False), SendingRules(), T0, 0), Fail)
    sent = decide(due({"email": "ann@example.com"}), SendingRules(), T0, 0)
    assert sent == Send(render("Hi", "B", ANN), "ann@example.com")


def test_quiet_hours_hold_a_first_hand_over_and_never_a_retry():
    # T0 is 09:00 UTC: inside 08:00-10:00.
    rules = SendingRules(quiet_hours=QuietHours.parse("08:00", "10:00"))
    held = decide(due({}, channel="log"), rules, T0, 0)
    assert isinstance(held, Hold) and held.until == T0.replace(hour=10)
    assert isinstance(decide(due({}, first=False, channel="log"), rules, T0, 0), Send)


def test_the_cap_skips_at_its_count_and_counts_only_first_hand_overs():
    rules = SendingRules(frequency_cap=FrequencyCap(2, 24))
    assert isinstance(decide(due({}, channel="log"), rules, T0, 1), Send)
    capped = decide(due({}, channel="log"), rules, T0, 2)
    assert isinstance(capped, Skip) and capped.reason.startswith(FREQUENCY_CAPPED)
    assert isinstance(decide(due({}, first=False, channel="log"), rules, T0, 9), Send)


def test_only_an_email_quiet_hours_or_markup_make_a_decision_read_the_profile():
    fixed = Node("n", NodeType.SEND, channel="log", template="t", subject="Hi", body="B")
    personal = Node("n", NodeType.SEND, channel="log", template="t", subject="Hi {{ x }}")
    quiet = SendingRules(quiet_hours=QuietHours.parse("21:00", "08:00"))
    assert not reads_profile("log", fixed, SendingRules())
    assert not reads_profile("log", None, SendingRules())
    assert reads_profile("log", personal, SendingRules())
    assert reads_profile("email", fixed, SendingRules())
    assert reads_profile("log", fixed, quiet)
