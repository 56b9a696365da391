"""The webhook channel against a real HTTP receiver on 127.0.0.1 (SQLite and
PostgreSQL): signed POSTs, retries with backoff on the test's clock, a journey
failed by the system when its channel keeps failing, and RECOVER letting what
was held go out. The processor is run by hand (`run_all`); no test sleeps for
a date."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from domain.actions import Action, ActorKind
from domain.content import Content, JourneyKind, Step, StepType
from domain.counters import JourneyCounters
from domain.errors import Forbidden, ValidationFailed
from domain.events import JourneyChanged
from domain.journey import Journey
from domain.statuses import Status
from service.clock import ManualClock
from service.entry import TrackedEvent
from service.services import Services
from service.settings import Settings
from service.webhook import NO_ENDPOINT, WebhookSender, signature
from store.tables import DELIVERIES, STATS
from tests.conftest import T0, Callers
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.anyio

SECRET = "s3cret-of-sixteen-or-more"
OFFER = Step(StepType.SEND, channel="webhook", template="offer")
LIMIT = 4  # failures in a row before the journey goes to ERROR
ATTEMPTS = 5


@pytest.fixture
async def services(database_url: str, clock: ManualClock) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=database_url,
        webhook_timeout_seconds=0.5,
        webhook_max_attempts=ATTEMPTS,
        webhook_retry_seconds=30,
        webhook_concurrency=4,
        channel_failure_limit=LIMIT,
    )
    services = Services.embedded(settings, clock=clock)
    yield services
    await services.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


async def running(services: Services, callers: Callers, *steps: Step, **content: Any) -> Journey:
    journey = await services.commands.create(
        callers.editor,
        name="Welcome",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=steps or (OFFER,), trigger_event="signup", **content),
    )
    return await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)


async def track(services: Services, callers: Callers, *customers: str) -> None:
    await services.entry.track(
        callers.editor, [TrackedEvent("signup", customer) for customer in customers]
    )


async def counters(services: Services, journey: Journey) -> JourneyCounters:
    return (await services.reads.counters([journey.id]))[journey.id]


def messages(stats: JourneyCounters) -> tuple[int, int, int, int]:
    return (stats.queued, stats.handed_over, stats.delivered, stats.failed)


async def deliveries(services: Services, journey: Journey) -> list[Any]:
    query = (
        select(DELIVERIES.c.customer_id, DELIVERIES.c.state, DELIVERIES.c.attempts)
        .add_columns(DELIVERIES.c.not_before, DELIVERIES.c.last_error)
        .add_columns(DELIVERIES.c.id, DELIVERIES.c.public_id)
        .where(DELIVERIES.c.journey_id == journey.id)
        .order_by(DELIVERIES.c.customer_id)
    )
    return await services.database.read(lambda c: list(c.execute(query)))


def counted(services: Services, outcome: str) -> float:
    """journeys_deliveries_total for the webhook channel, as /metrics would show it."""
    labels = {"channel": "webhook", "outcome": outcome}
    return services.metrics.registry.get_sample_value("journeys_deliveries_total", labels) or 0.0


async def status_of(services: Services, journey: Journey) -> Status:
    found = await services.reads.journey("acme", journey.id)
    assert found is not None
    return found.status


async def failures_in_a_row(services: Services, journey: Journey) -> int:
    query = select(STATS.c.failures_in_a_row).where(STATS.c.journey_id == journey.id)
    return int(await services.database.read(lambda c: c.execute(query).scalar_one()))


async def test_a_message_is_posted_signed_and_delivered(
    services: Services, callers: Callers, receiver: Receiver
):
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    journey = await running(services, callers)
    await track(services, callers, "ann")
    await services.processing.run_all()

    [request] = receiver.requests
    assert request.path == "/hooks/journeys?tag=test"
    assert request.headers["content-type"] == "application/json"
    timestamp = request.headers["x-journeys-timestamp"]
    assert timestamp == str(int(T0.timestamp()))  # the service's clock, not the wall's
    # The scheme README documents, computed here by hand.
    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["x-journeys-signature"] == f"sha256={expected}"
    assert request.verifies_with(SECRET) and not request.verifies_with(SECRET + "x")
    [delivery] = await deliveries(services, journey)
    body = {
        "deliveryId": delivery.public_id.hex,  # not the row id: see the test below
        "journeyId": journey.id,
        "customerId": "ann",
        "template": "offer",
        "channel": "webhook",
        "attempt": 1,
        "subject": "",  # the SEND has none
        "body": "",
    }
    assert request.json == body and list(json.loads(request.body)) == list(body)
    assert request.headers["x-journeys-attempt"] == "1"
    assert request.headers["x-journeys-delivery"] == delivery.public_id.hex
    assert (delivery.state, delivery.attempts) == ("DELIVERED", 1)
    assert messages(await counters(services, journey)) == (0, 0, 1, 0)


async def test_a_batch_is_sent_concurrently_within_the_bound(
    services: Services, callers: Callers, receiver: Receiver
):
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    journey = await running(services, callers)
    receiver.answer(200, delay=0.15)
    await track(services, callers, *[f"c{i}" for i in range(12)])
    began = time.monotonic()
    await services.processing.run_all()
    took = time.monotonic() - began

    assert len(receiver.requests) == 12
    assert 2 <= receiver.most_in_flight <= 4  # JOURNEYS_WEBHOOK_CONCURRENCY
    assert took < 12 * 0.15  # not one after the other
    assert messages(await counters(services, journey)) == (0, 0, 12, 0)
    assert {r["customerId"] for r in receiver.bodies()} == {f"c{i}" for i in range(12)}


async def test_failed_attempts_are_retried_with_a_doubling_delay_then_fail(
    services: Services, callers: Callers, clock: ManualClock, receiver: Receiver
):
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    journey = await running(services, callers)
    receiver.answer(500)
    await track(services, callers, "ann")
    await services.processing.run_all()
    assert len(receiver.requests) == 1
    # Handed over, outcome pending: not recallable, not failed yet.
    assert messages(await counters(services, journey)) == (0, 1, 0, 0)
    [delivery] = await deliveries(services, journey)
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        "HANDED_OVER",
        1,
        "HTTP 500",
    )
    assert delivery.not_before == T0 + timedelta(seconds=30)

    # Attempts at +30 s, +90 s and +210 s: 30, 60 and 120 seconds after each failure.
    for wait, attempts in ((29, 1), (1, 2), (59, 2), (1, 3), (119, 3)):
        clock.advance(seconds=wait)
        await services.processing.run_all()
        assert len(receiver.requests) == attempts, (wait, attempts)
    assert await status_of(services, journey) is Status.ACTIVE
    clock.advance(seconds=1)
    await services.processing.run_all()
    assert [r.attempt for r in receiver.requests] == [1, 2, 3, 4]
    assert all(r.verifies_with(SECRET) for r in receiver.requests)
    assert len({r.delivery_id for r in receiver.requests}) == 1
    # The fourth failure in a row (LIMIT) put the journey in ERROR, which holds the
    # fifth attempt, due 240 s later, until RECOVER.
    assert await status_of(services, journey) is Status.ERROR
    clock.advance(seconds=240)
    await services.processing.run_all()
    assert len(receiver.requests) == 4
    await services.commands.take(callers.admin, journey.id, Action.RECOVER)
    await services.processing.run_all()
    assert len(receiver.requests) == ATTEMPTS
    [delivery] = await deliveries(services, journey)
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("FAILED", 5, "HTTP 500")
    assert messages(await counters(services, journey)) == (0, 0, 0, 1)
    assert [counted(services, o) for o in ("RETRY", "FAILED", "DELIVERED")] == [4, 1, 0]
    clock.advance(hours=2)
    await services.processing.run_all()
    assert len(receiver.requests) == ATTEMPTS  # out of attempts: never again


async def test_a_retry_that_succeeds_delivers_and_ends_the_run_of_failures(
    services: Services, callers: Callers, clock: ManualClock, receiver: Receiver
):
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    journey = await running(services, callers)
    receiver.answer(503)
    await track(services, callers, "ann", "bob")
    await services.processing.run_all()
    assert await failures_in_a_row(services, journey) == 2

    receiver.answer(204)
    clock.advance(seconds=30)
    await services.processing.run_all()
    assert [r.attempt for r in receiver.requests] == [1, 1, 2, 2]
    assert messages(await counters(services, journey)) == (0, 0, 2, 0)
    assert [counted(services, o) for o in ("RETRY", "FAILED", "DELIVERED")] == [2, 0, 2]
    assert await failures_in_a_row(services, journey) == 0
    assert await status_of(services, journey) is Status.ACTIVE


async def test_a_failing_channel_fails_the_journey_and_recover_sends_what_was_held(
    services: Services, callers: Callers, clock: ManualClock, receiver: Receiver
):
    rung: list[str] = []

    class Listener:
        def ring(self, workspace_id: str) -> None:
            rung.append(workspace_id)

        def ring_all(self) -> None:
            rung.append("*")

        def changed(self, change: JourneyChanged) -> None:
            pass  # journeys written without a status change: not what this test hears

    services.bus.listen(Listener())
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    # A recall window of a minute: messages stay queued (recallable) that long.
    journey = await running(services, callers, OFFER, send_delay_seconds=60)
    receiver.answer(503)
    await track(services, callers, "ann", "bob")
    await services.processing.run_all()
    assert receiver.requests == []  # both queued until T0 + 60 s

    clock.advance(seconds=60)
    await services.processing.run_all()  # ann's and bob's first attempts: 2 in a row
    await track(services, callers, "cy")  # cy's message is queued until T0 + 120 s
    await services.processing.run_all()
    assert len(receiver.requests) == 2
    assert await status_of(services, journey) is Status.ACTIVE

    rung.clear()
    clock.advance(seconds=30)
    await services.processing.run_all()  # their second attempts: 4 in a row, the limit
    assert len(receiver.requests) == 4
    failed = await services.reads.journey("acme", journey.id)
    assert failed is not None and failed.status is Status.ERROR
    port_and_path = receiver.url.split("?")[0]  # the reason leaves the query out
    reason = f"webhook {port_and_path} failed 4 times in a row: HTTP 503"
    assert failed.error_reason == reason
    events = await services.reads.status_events("acme", journey_id=journey.id)
    assert [(e.change.action, e.change.actor.kind, e.change.reason) for e in events] == [
        (Action.ACTIVATE, ActorKind.USER, None),
        (Action.FAIL, ActorKind.SYSTEM, reason),
    ]
    assert events[-1].change.actor.name == "system"
    assert rung == ["acme"]  # announced: subscribers hear of it
    # ERROR holds cy's queued message and ann's and bob's retries.
    assert messages(await counters(services, journey)) == (1, 2, 0, 0)
    assert await failures_in_a_row(services, journey) == 0  # entering ERROR starts afresh

    clock.advance(seconds=600)
    receiver.answer(200)  # the receiver is fixed; nothing goes out before RECOVER
    await services.processing.run_all()
    assert len(receiver.requests) == 4
    for caller in (callers.viewer, callers.editor):
        with pytest.raises(Forbidden):
            await services.commands.take(caller, journey.id, Action.RECOVER)

    recovered = await services.commands.take(callers.admin, journey.id, Action.RECOVER)
    assert recovered.status is Status.ACTIVE
    await services.processing.run_all()
    sent = sorted((r["customerId"], r["attempt"]) for r in receiver.bodies()[4:])
    assert sent == [("ann", 3), ("bob", 3), ("cy", 1)]
    assert messages(await counters(services, journey)) == (0, 0, 3, 0)
    events = await services.reads.status_events("acme", journey_id=journey.id)
    assert [(e.change.action, e.change.actor.name) for e in events][-1] == (Action.RECOVER, "ada")


async def test_a_message_in_retry_is_not_recalled_by_pause_or_abort(
    services: Services, callers: Callers, clock: ManualClock, receiver: Receiver
):
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    journey = await running(services, callers, OFFER, send_delay_seconds=60)
    receiver.answer(500)
    await track(services, callers, "ann")
    await services.processing.run_all()  # ann's message: queued until T0 + 60 s
    clock.advance(seconds=60)
    await services.processing.run_all()  # handed over, its first attempt failed
    await track(services, callers, "bob")
    await services.processing.run_all()  # bob's: queued (recallable) until T0 + 120 s

    paused = await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    assert paused.status is Status.PAUSED
    receiver.answer(200)
    clock.advance(seconds=60)
    await services.processing.run_all()
    # The retry went out while paused; bob's queued message is held.
    assert [r["customerId"] for r in receiver.bodies()] == ["ann", "ann"]
    assert messages(await counters(services, journey)) == (1, 0, 1, 0)

    receiver.answer(500)
    await services.commands.take(callers.editor, journey.id, Action.RESUME)
    await services.processing.run_all()  # bob's first attempt fails
    await services.commands.take(callers.editor, journey.id, Action.ABORT)
    stats = await counters(services, journey)
    assert (stats.cancelled, stats.handed_over) == (0, 1)  # handed over: not cancelled
    receiver.answer(200)
    clock.advance(seconds=30)
    await services.processing.run_all()
    assert [r["customerId"] for r in receiver.bodies()] == ["ann", "ann", "bob", "bob"]
    assert messages(await counters(services, journey)) == (0, 0, 2, 0)


async def test_without_an_endpoint_a_message_waits_for_one(
    services: Services, callers: Callers, clock: ManualClock, receiver: Receiver
):
    journey = await running(services, callers)
    await track(services, callers, "ann")
    await services.processing.run_all()
    [delivery] = await deliveries(services, journey)
    assert (delivery.state, delivery.last_error) == ("HANDED_OVER", NO_ENDPOINT)

    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    clock.advance(seconds=30)
    await services.processing.run_all()
    assert [r.attempt for r in receiver.requests] == [2]
    assert messages(await counters(services, journey)) == (0, 0, 1, 0)


async def test_no_answer_within_the_timeout_is_a_failed_attempt(
    services: Services, callers: Callers, receiver: Receiver
):
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    journey = await running(services, callers)
    receiver.answer(200, delay=2.0)  # the timeout is 0.5 s
    await track(services, callers, "ann")
    began = time.monotonic()
    await services.processing.run_all()
    assert time.monotonic() - began < 1.5
    [delivery] = await deliveries(services, journey)
    assert (delivery.state, delivery.last_error) == ("HANDED_OVER", "no answer within 0.5 s")


async def test_a_receiver_that_is_gone_is_a_failed_attempt(services: Services, callers: Callers):
    with receiving() as gone:
        url = gone.url
    await services.webhook_endpoints.set(callers.admin, url, SECRET)
    journey = await running(services, callers)
    await track(services, callers, "ann")
    await services.processing.run_all()
    [delivery] = await deliveries(services, journey)
    assert delivery.state == "HANDED_OVER"
    assert delivery.last_error.startswith("could not connect")


async def test_an_attempt_whose_outcome_was_lost_is_made_again(
    services: Services,
    callers: Callers,
    clock: ManualClock,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
):
    """The process stops between hand-over and outcome: once the attempt's lease has
    run out, another attempt is made (at least once), and the counters stay exact."""
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    journey = await running(services, callers)
    await track(services, callers, "ann")

    class Stopped(Exception):
        pass

    async def stopped(self: WebhookSender, attempts: Any) -> Any:
        raise Stopped

    with monkeypatch.context() as patch:
        patch.setattr(WebhookSender, "send_all", stopped)
        with pytest.raises(Stopped):
            await services.processing.run_all()
    assert messages(await counters(services, journey)) == (0, 1, 0, 0)
    await services.processing.run_all()
    assert receiver.requests == []  # its lease still runs
    clock.advance(minutes=2)
    await services.processing.run_all()
    assert [r.attempt for r in receiver.requests] == [2]
    assert messages(await counters(services, journey)) == (0, 0, 1, 0)


async def test_the_delivery_id_is_random_the_same_on_every_attempt_and_not_the_row_id(
    services: Services,
    callers: Callers,
    clock: ManualClock,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
):
    """What a receiver deduplicates on: one id per message, kept by its retry, by an
    attempt made again after its outcome was lost, and across a new secret; another
    message's differs; and it is not the row id, one sequence for every workspace
    (whose gaps would count the messages other workspaces sent in between)."""
    await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    await services.webhook_endpoints.set(callers.outsider, receiver.url, SECRET)
    journey = await running(services, callers)
    theirs = await services.commands.create(
        callers.outsider,
        name="Theirs",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=(OFFER,), trigger_event="signup"),
    )
    await services.commands.take(callers.outsider, theirs.id, Action.ACTIVATE)
    receiver.answer(500)
    # One after the other, so that the other workspace's message is written between.
    for caller, customer in ((callers.editor, "ann"), (callers.outsider, "zed")):
        await services.entry.track(caller, [TrackedEvent("signup", customer)])
        await services.processing.run_all()  # a first attempt, failed
    await track(services, callers, "bob")
    await services.processing.run_all()

    renewed = SECRET + "-renewed"
    await services.webhook_endpoints.set(callers.admin, receiver.url, renewed)
    receiver.answer(200)
    clock.advance(seconds=30)
    await services.processing.run_all()  # the retries, ours signed with the new secret

    class Stopped(Exception):
        pass

    send_all = WebhookSender.send_all

    async def sent_then_stopped(self: WebhookSender, attempts: Any) -> Any:
        await send_all(self, attempts)
        raise Stopped  # the process stops before the outcome is recorded

    await track(services, callers, "cy")
    with monkeypatch.context() as patch:
        patch.setattr(WebhookSender, "send_all", sent_then_stopped)
        with pytest.raises(Stopped):
            await services.processing.run_all()  # cy's first attempt arrives
    clock.advance(minutes=2)
    await services.processing.run_all()  # and is made again once its lease ran out

    ours = [r for r in receiver.requests if r.json["journeyId"] == journey.id]
    assert sorted((r.json["customerId"], r.attempt) for r in ours) == [
        ("ann", 1), ("ann", 2), ("bob", 1), ("bob", 2), ("cy", 1), ("cy", 2),
    ]  # fmt: skip
    for request in ours:  # ann's and bob's first attempts came before the new secret
        before = request.attempt == 1 and request.json["customerId"] != "cy"
        assert request.verifies_with(SECRET if before else renewed)
    shown: dict[str, set[str]] = {}
    for request in receiver.requests:
        shown.setdefault(request.json["customerId"], set()).add(request.delivery_id)
    assert all(len(ids) == 1 for ids in shown.values())  # the same on every attempt
    assert len(set.union(*shown.values())) == 4  # and each message its own
    rows = {d.customer_id: d for d in await deliveries(services, journey)}
    [their_row] = await deliveries(services, theirs)
    rows["zed"] = their_row
    for customer, (delivery_id,) in shown.items():
        assert re.fullmatch("[0-9a-f]{32}", delivery_id)
        assert delivery_id == rows[customer].public_id.hex
        assert delivery_id != str(rows[customer].id)
    # The row ids count every workspace's messages: ann's and bob's have zed's between.
    assert rows["ann"].id < rows["zed"].id < rows["bob"].id


# -- setting the endpoint ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.example.com/in", "must start with http:// or https://, not ftp:"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("hooks.example.com/in", "must start with http:// or https://"),
        ("", "must not be empty"),
        ("https://", "must name a host"),
        ("https://user:pw@hooks.example.com/", "must not carry a user name or password"),
        ("https://hooks.example.com/a b", "must not contain spaces"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com/" + "x" * 2000, "at most 2000 characters"),
    ],
)
async def test_a_url_that_is_not_http_is_refused(
    services: Services, callers: Callers, url: str, says: str
):
    with pytest.raises(ValidationFailed, match=re.escape(says)):
        await services.webhook_endpoints.set(callers.admin, url, SECRET)
    assert await services.webhook_endpoints.get(callers.admin) is None


async def test_bad_secrets_and_non_admins_are_refused_and_change_nothing(
    services: Services, callers: Callers, clock: ManualClock
):
    first = await services.webhook_endpoints.set(callers.admin, "https://a.example/in", SECRET)
    clock.advance(seconds=5)
    for secret, says in (
        ("", "must not be empty"),
        ("short", "16 to 200 characters, not 5"),
        (" " + SECRET, "must not start or end with spaces"),
        ("x" * 201, "16 to 200 characters"),
    ):
        with pytest.raises(ValidationFailed, match=says):
            await services.webhook_endpoints.set(callers.admin, "https://b.example/in", secret)
    for caller in (callers.viewer, callers.editor):
        with pytest.raises(Forbidden, match="needs an admin token"):
            await services.webhook_endpoints.set(caller, "https://b.example/in", SECRET)
        with pytest.raises(Forbidden, match="needs an admin token"):
            await services.webhook_endpoints.clear(caller)
    assert await services.webhook_endpoints.get(callers.viewer) == first
    # Another workspace's admin sees and changes only its own.
    assert await services.webhook_endpoints.get(callers.outsider) is None
    assert await services.webhook_endpoints.clear(callers.outsider) is False
    assert await services.webhook_endpoints.get(callers.editor) == first


async def test_an_endpoint_is_replaced_and_cleared(
    services: Services, callers: Callers, clock: ManualClock, receiver: Receiver
):
    await services.webhook_endpoints.set(callers.admin, "https://old.example/in", "o" * 16)
    clock.advance(seconds=1)
    replaced = await services.webhook_endpoints.set(callers.admin, receiver.url, SECRET)
    assert (replaced.url, replaced.configured_at, replaced.configured_by) == (
        receiver.url,
        T0 + timedelta(seconds=1),
        "ada",
    )
    assert await services.webhook_endpoints.get(callers.admin) == replaced
    journey = await running(services, callers)
    await track(services, callers, "ann")
    await services.processing.run_all()
    [request] = receiver.requests  # the new URL, signed with the new secret
    assert request.verifies_with(SECRET)

    assert await services.webhook_endpoints.clear(callers.admin) is True
    assert await services.webhook_endpoints.clear(callers.admin) is False
    assert await services.webhook_endpoints.get(callers.admin) is None
    assert messages(await counters(services, journey)) == (0, 0, 1, 0)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    # The vector README gives receivers (openssl computes the same: printf '%s'
    # '1893488400.{"deliveryId":"2976c6d0648e4bccd22895ba1922298e"}' | openssl dgst -sha256
    # -hmac <secret>).
    body = b'{"deliveryId":"2976c6d0648e4bccd22895ba1922298e"}'
    value = signature("whsec-0123456789abcdef", "1893488400", body)
    assert value == "sha256=b9e52518095c31aed4538dc7e3ea89f15819a55f5c91322d4351d47069535224"
