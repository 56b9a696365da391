"""A SEND's message is made for its customer at the hand-over (SQLite and PostgreSQL): Liquid
with the profile as it is then, the admitting event and the journey's name; a template that
fails fails that one message; renderMessage previews it and changes nothing."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa

from domain.actions import Action
from domain.content import Content, JourneyKind
from domain.email import EmailSecurity
from domain.errors import NotFound, ValidationFailed
from domain.flow import Node, NodeType
from domain.journey import Journey
from service.clock import ManualClock
from service.customers import ProfileChange
from service.entry import TrackedEvent
from service.sending_rules import RulesInput
from service.services import Services
from store import messages as message_store
from tests.conftest import Callers
from tests.service.flows import running
from tests.smtp_server import HOST, Mailbox, smtp_server

pytestmark = pytest.mark.anyio

BIRTHDAY_SUBJECT = "Happy birthday, {{ customer.first_name | default: 'friend' }}"
BIRTHDAY_BODY = "Use {{ event.coupon }} in {{ journey.name }}, {{ customer.id }}."


def birthday_send(
    subject: str = BIRTHDAY_SUBJECT, body: str = BIRTHDAY_BODY, next: str | None = None
) -> Node:
    return Node(
        "offer",
        NodeType.SEND,
        next=next,
        channel="log",
        template="offer",
        subject=subject,
        body=body,
    )


async def profiles(services: Services, callers: Callers, **attributes: dict[str, object]) -> None:
    changes = [ProfileChange(customer, values) for customer, values in attributes.items()]
    await services.customers.upsert(callers.editor, changes)


async def signup(services: Services, callers: Callers, *customers: str, **properties: object):
    events = [TrackedEvent("signup", customer, dict(properties)) for customer in customers]
    await services.entry.track(callers.editor, events)


async def deliveries(services: Services, journey: Journey) -> dict[str, tuple[str, str | None]]:
    found = await services.database.read(
        lambda connection: connection.execute(
            sa.text("SELECT customer_id, state, last_error FROM deliveries WHERE journey_id = :j"),
            {"j": journey.id},
        ).all()
    )
    return {customer: (state, error) for customer, state, error in found}


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "journeys.channel.log"]


async def test_a_message_is_rendered_with_the_profile_the_admitting_event_and_the_journey(
    services: Services, callers: Callers, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="journeys.channel.log")
    journey = await running(services, callers, birthday_send())
    await profiles(services, callers, ann={"first_name": "Ann"})
    await signup(services, callers, "ann", "bob", coupon="BDAY10")
    await services.processing.run_all()
    [ann] = [line for line in lines(caplog) if "'ann'" in line]
    assert ann.endswith(": subject 'Happy birthday, Ann', body 'Use BDAY10 in Flow, ann.'")
    # Bob has no profile of his own but the empty one his event made: the default.
    [bob] = [line for line in lines(caplog) if "'bob'" in line]
    assert "subject 'Happy birthday, friend'" in bob
    assert await deliveries(services, journey) == {
        "ann": ("DELIVERED", None),
        "bob": ("DELIVERED", None),
    }


async def test_a_queued_message_is_rendered_with_the_profile_as_it_is_at_the_hand_over(
    services: Services, callers: Callers, clock: ManualClock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="journeys.channel.log")
    await running(services, callers, birthday_send(), send_delay_seconds=600)
    await profiles(services, callers, ann={"first_name": "Ann"})
    await signup(services, callers, "ann", coupon="X")
    await services.processing.run_all()
    assert lines(caplog) == []  # queued, recallable
    await profiles(services, callers, ann={"first_name": "Annie"})
    clock.advance(seconds=600)
    await services.processing.run_all()
    [line] = lines(caplog)
    assert "subject 'Happy birthday, Annie'" in line


async def test_a_template_that_fails_for_one_customer_fails_that_message_alone(
    services: Services, callers: Callers, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="journeys.channel.log")
    nested = "{% for i in (1..customer.n) %}{% for j in (1..customer.n) %}x{% endfor %}{% endfor %}"
    journey = await running(services, callers, birthday_send(body=nested))
    await profiles(services, callers, ann={"n": 1000}, bob={"n": 2})
    await signup(services, callers, "ann", "bob", coupon="X")
    await services.processing.run_all()
    found = await deliveries(services, journey)
    assert found["bob"] == ("DELIVERED", None)
    state, reason = found["ann"]
    assert state == "FAILED"
    assert reason is not None and "the body passed a template limit" in reason
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.delivered, stats.failed, stats.queued, stats.handed_over) == (1, 1, 0, 0)
    assert [line for line in lines(caplog) if "'ann'" in line] == []


async def test_a_line_break_an_attribute_brings_into_a_subject_becomes_a_space(
    services: Services, callers: Callers, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="journeys.channel.log")
    await running(services, callers, birthday_send(subject="Hi {{ customer.first_name }}"))
    await profiles(services, callers, ann={"first_name": "Ann\r\nBcc: all@example.com"})
    await signup(services, callers, "ann", coupon="X")
    await services.processing.run_all()
    [line] = lines(caplog)
    assert "subject 'Hi Ann Bcc: all@example.com'" in line


async def test_a_template_that_does_not_parse_is_refused_at_save_naming_the_node_and_line(
    services: Services, callers: Callers
):
    body = "Hello\n{% if customer.vip %}\nYou are a VIP"
    with pytest.raises(ValidationFailed) as refused:
        await services.commands.create(
            callers.editor,
            name="Broken",
            kind=JourneyKind.EVENT_TRIGGERED,
            content=Content(nodes=(birthday_send(body=body),), trigger_event="signup"),
        )
    message = str(refused.value)
    assert 'node "offer"' in message and "body is not a valid Liquid template" in message
    assert "line 3" in message
    assert sum((await services.reads.status_counts(callers.editor.workspace_id)).values()) == 0


async def test_render_message_previews_what_a_customer_would_get_and_changes_nothing(
    services: Services, callers: Callers
):
    journey = await running(services, callers, birthday_send())
    await profiles(services, callers, ann={"first_name": "Ann"})
    await signup(services, callers, "ann", coupon="BDAY10")
    previews = services.message_previews
    shown = await previews.render(callers.viewer, journey.id, "offer", "ann")
    assert (shown.subject, shown.body) == ("Happy birthday, Ann", "Use BDAY10 in Flow, ann.")
    assert await deliveries(services, journey) == {}  # not processed, nothing written
    with pytest.raises(NotFound, match='no node "nope"'):
        await previews.render(callers.viewer, journey.id, "nope", "ann")
    with pytest.raises(NotFound, match="no customer"):
        await previews.render(callers.viewer, journey.id, "offer", "zed")
    with pytest.raises(NotFound, match="no journey"):
        await previews.render(callers.outsider, journey.id, "offer", "ann")


async def test_render_message_refuses_a_node_that_sends_nothing_or_fails_to_render(
    services: Services, callers: Callers
):
    wait = Node("wait", NodeType.WAIT, seconds=60, next="offer")
    journey = await running(
        services, callers, wait, birthday_send(body="{{ customer.n | divided_by: 0 }}")
    )
    await profiles(services, callers, ann={"n": 1})
    with pytest.raises(ValidationFailed, match='node "wait" is a WAIT node'):
        await services.message_previews.render(callers.viewer, journey.id, "wait", "ann")
    with pytest.raises(ValidationFailed, match=r"cannot be rendered for 'ann'.*divided_by"):
        await services.message_previews.render(callers.viewer, journey.id, "offer", "ann")


async def test_render_message_previews_the_live_version_while_a_newer_one_is_not_applied(
    services: Services, callers: Callers
):
    journey = await running(services, callers, birthday_send())
    await profiles(services, callers, ann={"first_name": "Ann"})
    await services.commands.take(callers.editor, journey.id, Action.FREEZE)
    edited = await services.commands.update(
        callers.editor, journey.id, {"nodes": (birthday_send(subject="Edited"),)}
    )
    assert (edited.live_version, edited.latest.number) == (1, 2)
    shown = await services.message_previews.render(callers.viewer, journey.id, "offer", "ann")
    assert shown.subject == "Happy birthday, Ann"


# -- sending rules ----------------------------------------------------------------------


async def rules(services: Services, callers: Callers, **asked: object) -> None:
    await services.sending_rules.set(callers.admin, RulesInput(**asked))  # type: ignore[arg-type]


async def test_quiet_hours_hold_a_message_queued_until_they_end_on_the_customers_clock(
    services: Services, callers: Callers, clock: ManualClock
):
    # T0 is 09:00 UTC: 04:00 in New York (quiet), 18:00 in Tokyo (not).
    await rules(services, callers, quiet_hours=("21:00", "08:00"), timezone="America/New_York")
    journey = await running(services, callers, birthday_send())
    await profiles(services, callers, bob={"timezone": "Asia/Tokyo"}, cy={"timezone": "Mars/X"})
    await signup(services, callers, "ann", "bob", "cy", coupon="X")
    await services.processing.run_all()
    found = await deliveries(services, journey)
    # Ann has no zone of her own, Cy's is not one: both read the workspace's, New York.
    assert {c: state for c, (state, _) in found.items()} == {
        "ann": "QUEUED",
        "bob": "DELIVERED",
        "cy": "QUEUED",
    }
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.queued, stats.delivered) == (2, 1)
    clock.advance(hours=4, seconds=-1)  # 07:59:59 in New York
    await services.processing.run_all()
    assert found["ann"][0] == (await deliveries(services, journey))["ann"][0] == "QUEUED"
    clock.advance(seconds=1)  # 08:00
    await services.processing.run_all()
    assert {state for state, _ in (await deliveries(services, journey)).values()} == {"DELIVERED"}


async def test_quiet_hours_on_the_night_the_clocks_go_back_hold_their_wall_clock_hours(
    services: Services, callers: Callers, clock: ManualClock
):
    # New York, 2030-11-03: at 02:00 EDT the clocks go back to 01:00 EST. Quiet from
    # 21:00 to 08:00 local is then 12 real hours: a message due at 21:30 EDT (01:30
    # UTC) waits until 08:00 EST, 13:00 UTC, eleven and a half hours later.
    await rules(services, callers, quiet_hours=("21:00", "08:00"), timezone="America/New_York")
    journey = await running(services, callers, birthday_send())
    clock.set(datetime(2030, 11, 3, 1, 30, tzinfo=UTC))
    await signup(services, callers, "ann", coupon="X")
    await services.processing.run_all()
    assert (await deliveries(services, journey))["ann"][0] == "QUEUED"
    clock.set(datetime(2030, 11, 3, 12, 59, 59, tzinfo=UTC))  # 07:59:59 EST
    await services.processing.run_all()
    assert (await deliveries(services, journey))["ann"][0] == "QUEUED"
    clock.set(datetime(2030, 11, 3, 13, 0, tzinfo=UTC))  # 08:00 EST
    await services.processing.run_all()
    assert (await deliveries(services, journey))["ann"][0] == "DELIVERED"


async def test_a_message_held_by_quiet_hours_is_recallable_an_abort_cancels_it(
    services: Services, callers: Callers, clock: ManualClock
):
    await rules(services, callers, quiet_hours=("00:00", "23:59"))  # UTC: all day but a minute
    journey = await running(services, callers, birthday_send())
    await signup(services, callers, "ann", coupon="X")
    await services.processing.run_all()
    aborted = await services.commands.take(callers.editor, journey.id, Action.ABORT)
    assert aborted.status.value == "ABORTED"
    clock.advance(hours=24)
    await services.processing.run_all()
    assert (await deliveries(services, journey))["ann"][0] == "CANCELLED"


async def all_states(services: Services) -> Counter[str]:
    found = await services.database.read(
        lambda connection: connection.execute(sa.text("SELECT state FROM deliveries")).all()
    )
    return Counter(state for (state,) in found)


async def test_a_frequency_cap_skips_what_is_over_it_across_journeys_in_a_moving_window(
    services: Services, callers: Callers, clock: ManualClock
):
    await rules(services, callers, frequency_cap=(2, 24))
    second_send = Node("two", NodeType.SEND, channel="log", template="two")
    first = await running(services, callers, birthday_send(next="two"), second_send)
    second = await running(services, callers, birthday_send())
    await signup(services, callers, "ann", coupon="X")
    await services.processing.run_all()
    assert await all_states(services) == Counter(DELIVERED=2, SKIPPED=1)
    reasons = [
        reason
        for journey in (first, second)
        for state, reason in (await deliveries(services, journey)).values()
        if state == "SKIPPED"
    ]
    assert len(reasons) == 1 and reasons[0].startswith("FREQUENCY_CAPPED: ")
    counters = await services.reads.counters([first.id, second.id])
    assert sum(c.skipped for c in counters.values()) == 1
    assert sum(c.delivered for c in counters.values()) == 2
    # Exactly a day later the two messages still count; a second after, they do not.
    clock.advance(hours=24)
    await signup(services, callers, "ann", coupon="Y")
    await services.processing.run_all()
    assert await all_states(services) == Counter(DELIVERED=2, SKIPPED=4)
    clock.advance(seconds=1)
    await signup(services, callers, "ann", coupon="Z")
    await services.processing.run_all()
    assert await all_states(services) == Counter(DELIVERED=4, SKIPPED=5)


# -- the email channel, through the step processor --------------------------------------


def email_send() -> Node:
    return Node(
        "offer",
        NodeType.SEND,
        channel="email",
        template="birthday",
        subject=BIRTHDAY_SUBJECT,
        body="<p>Hi {{ customer.first_name }}, use <b>{{ event.coupon }}</b>.</p>",
    )


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with smtp_server(box) as port:
        yield box, port


async def sender(services: Services, callers: Callers, port: int) -> None:
    await services.email_senders.set(
        callers.admin,
        host=HOST,
        port=port,
        security=EmailSecurity.NONE,
        username=None,
        password=None,
        from_address="hello@acme.example",
    )


async def test_an_email_is_rendered_sent_to_the_profiles_address_and_skipped_without_one(
    services: Services, callers: Callers, mailbox: tuple[Mailbox, int]
):
    box, port = mailbox
    await sender(services, callers, port)
    journey = await running(services, callers, email_send())
    await profiles(
        services,
        callers,
        ann={"first_name": "Ann", "email": "ann@example.com"},
        bob={"first_name": "Bob", "email": "not an address"},
    )
    await signup(services, callers, "ann", "bob", "cy", coupon="BDAY10")
    await services.processing.run_all()
    [received] = box.received
    assert received.recipients == ["ann@example.com"]
    email = received.message
    assert email["Subject"] == "Happy birthday, Ann"
    html = email.get_body(("html",))
    assert html is not None and "use <b>BDAY10</b>" in html.get_content()
    found = await deliveries(services, journey)
    assert found["ann"] == ("DELIVERED", None)
    for customer in ("bob", "cy"):  # an address that is not one, and none at all
        state, reason = found[customer]
        assert state == "SKIPPED" and reason is not None
        assert reason.startswith("NO_EMAIL_ADDRESS: ")
    [public_id] = (
        await services.database.read(
            lambda c: c.execute(
                sa.text("SELECT public_id FROM deliveries WHERE customer_id = 'ann'")
            ).all()
        )
    )[0]
    assert email["Message-ID"] == f"<{uuid.UUID(str(public_id)).hex}@acme.example>"
    stats = (await services.reads.counters([journey.id]))[journey.id]
    assert (stats.delivered, stats.skipped, stats.failed, stats.handed_over) == (1, 2, 0, 0)
    now = await services.reads.journey(callers.editor.workspace_id, journey.id)
    assert now is not None and now.status.value == "ACTIVE"  # a skip is no channel failure


async def test_a_refused_recipient_fails_alone_and_does_not_count_toward_error(
    services: Services, callers: Callers, mailbox: tuple[Mailbox, int]
):
    box, port = mailbox
    box.refuse["ann@example.com"] = "550 5.1.1 no such user"
    await sender(services, callers, port)
    journey = await running(services, callers, email_send())
    await profiles(
        services,
        callers,
        ann={"first_name": "Ann", "email": "ann@example.com"},
        bob={"first_name": "Bob", "email": "bob@example.com"},
    )
    await signup(services, callers, "ann", "bob", coupon="X")
    await services.processing.run_all()
    found = await deliveries(services, journey)
    assert found["bob"] == ("DELIVERED", None)
    assert found["ann"][0] == "FAILED" and "550" in (found["ann"][1] or "")
    assert box.recipients == ["bob@example.com"]
    run = await services.database.read(
        lambda c: c.execute(
            sa.text("SELECT failures_in_a_row FROM journey_stats WHERE journey_id = :j"),
            {"j": journey.id},
        ).scalar_one()
    )
    assert run == 0


async def test_an_smtp_server_that_is_down_moves_the_journey_to_error_holding_the_rest(
    services: Services, callers: Callers
):
    with smtp_server(Mailbox()) as port:
        pass  # a port nobody listens on any more
    await sender(services, callers, port)
    journey = await running(services, callers, email_send())
    customers = [f"c{n}" for n in range(6)]
    await profiles(services, callers, **{c: {"email": f"{c}@example.com"} for c in customers})
    await signup(services, callers, *customers, coupon="X")
    await services.processing.run_all()
    failed = await services.reads.journey(callers.editor.workspace_id, journey.id)
    assert failed is not None and failed.status.value == "ERROR"
    assert failed.error_reason is not None
    assert failed.error_reason.startswith(f"email {HOST}:{port} failed ")
    states = Counter(state for state, _ in (await deliveries(services, journey)).values())
    assert states == Counter(HANDED_OVER=6)  # each retried after RECOVER, none lost


async def test_a_cap_holds_across_workers_the_second_waits_for_the_first_customers_lock(
    services: Services, callers: Callers, clock: ManualClock, database_url: str
):
    """Worker A hands ann a message and holds her lock until it commits; worker B, taking
    her other message meanwhile, waits for that lock, then counts A's message and skips."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writing transaction at a time: no two workers race")
    await rules(services, callers, frequency_cap=(1, 24))
    first = await running(services, callers, birthday_send(), send_delay_seconds=60)
    second = await running(services, callers, birthday_send(), send_delay_seconds=60)
    await signup(services, callers, "ann", coupon="X")
    await services.processing.run_all()  # both queued, recallable for a minute
    clock.advance(seconds=60)
    key = message_store._lock_key(callers.editor.workspace_id, "ann")
    with psycopg.connect(database_url) as worker_a, psycopg.connect(database_url) as watcher:
        # Worker A: ann's lock, and her message of the first journey handed over (its row
        # locked until A commits, so B's batch skips it).
        worker_a.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        worker_a.execute(
            "UPDATE deliveries SET state = 'DELIVERED', attempts = 1, handed_over_at = %s "
            "WHERE journey_id = %s",
            (clock.now(), first.id),
        )
        worker_b = asyncio.create_task(services.processing.hand_over())
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND wait_event = 'advisory'"
        )
        for _ in range(500):
            if watcher.execute(waiting).fetchone() == (1,):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("worker B never waited for ann's lock")
        assert not worker_b.done()
        worker_a.commit()
        await worker_b
    state, reason = (await deliveries(services, second))["ann"]
    assert state == "SKIPPED" and reason is not None and reason.startswith("FREQUENCY_CAPPED")
