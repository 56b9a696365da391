"""Segment journeys (SQLite and PostgreSQL): lists as rows, uploaded as a stream or
given inline, loaded in batches from a cursor when the journey first runs, then
AUDIENCE_LOADED. The loader and the processor are run by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import service.segments
from domain.actions import Action, ActorKind
from domain.audience import ListRefusal
from domain.content import Content, JourneyKind, Step, StepType
from domain.errors import Forbidden, NotFound, TransitionNotAllowed, ValidationFailed
from domain.journey import Journey
from domain.statuses import Status
from service.services import Services
from store.tables import AUDIENCE_LISTS, AUDIENCE_MEMBERS
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio

OFFER = Step(StepType.SEND, channel="log", template="birthday-offer")
THANKS = Step(StepType.SEND, channel="log", template="thank-you")
WAIT_A_DAY = Step(StepType.WAIT, seconds=24 * 3600)


async def segment(
    services: Services,
    callers: Callers,
    audience: Iterable[str] | None = ("ann", "bob", "cy"),
    **content: Any,
) -> Journey:
    return await services.commands.create(
        callers.editor,
        name="May birthdays",
        kind=JourneyKind.SEGMENT_SCHEDULED,
        content=Content(steps=(OFFER, WAIT_A_DAY, THANKS), **content),
        audience_ids=list(audience) if audience is not None else None,
    )


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def upload(services: Services, callers: Callers, journey: Journey, text: str, **kw: Any):
    return await services.uploads.upload(
        kw.get("caller", callers.editor),
        journey.id,
        kw.get("content_type", "text/plain"),
        body(*(text.encode()[i : i + 7] for i in range(0, len(text.encode()), 7))),
    )


async def stats(services: Services, journey: Journey):
    return (await services.reads.counters([journey.id]))[journey.id]


async def status_of(services: Services, journey: Journey) -> Status:
    found = await services.reads.journey("acme", journey.id)
    assert found is not None
    return found.status


async def list_rows(services: Services) -> tuple[int, int]:
    def count(connection: Any) -> tuple[int, int]:
        lists = connection.execute(select(func.count()).select_from(AUDIENCE_LISTS)).scalar()
        members = connection.execute(select(func.count()).select_from(AUDIENCE_MEMBERS)).scalar()
        return int(lists), int(members)

    return await services.database.read(count)


# -- lists ------------------------------------------------------------------------


async def test_an_inline_audience_becomes_a_list_the_version_refers_to(
    services: Services, callers: Callers
):
    journey = await segment(services, callers, ["ann", "bob", "ann", "cy"])
    audience = journey.latest.content.audience
    assert audience is not None and audience.size == 3
    assert await services.reads.audience(audience.id, 0, 10) == ["ann", "bob", "cy"]
    assert await services.reads.audience(audience.id, 1, 1) == ["bob"]

    cleared = await services.commands.update(callers.editor, journey.id, {}, audience_ids=[])
    assert cleared.latest.content.audience is None


async def test_an_upload_reports_refused_lines_by_number_and_loads_the_good_ones(
    services: Services, callers: Callers
):
    journey = await segment(services, callers, None)
    text = "ann\n  bob  \n\nbad\x00id\nann\r\n" + "x" * 201 + "\ncy\n\xff\xfe\ndee"
    uploaded = await services.uploads.upload(
        callers.editor,
        journey.id,
        "text/plain; charset=utf-8",
        body(*(bytes([b]) for b in text.encode("latin-1"))),  # one byte at a time
    )
    assert (uploaded.lines, uploaded.accepted, uploaded.refused) == (9, 4, 4)
    assert [(r.line, r.reason) for r in uploaded.first_refused] == [
        (4, ListRefusal.INVALID_ID),
        (5, ListRefusal.DUPLICATE),
        (6, ListRefusal.INVALID_ID),
        (8, ListRefusal.INVALID_ID),
    ]
    assert uploaded.first_refused[1].customer_id == "ann"
    audience = uploaded.journey.latest.content.audience
    assert audience is not None and audience.size == 4
    assert await services.reads.audience(audience.id, 0, 10) == ["ann", "bob", "cy", "dee"]


@pytest.mark.parametrize(
    ("content_type", "text", "refused_line"),
    [
        ("text/plain", "ann\nb\tob\ncy\n", 2),
        ("text/csv", "id,name\nann,Ann\nb\tob,Bob\ncy,Cy\n", 3),
    ],
)
async def test_a_tab_inside_an_id_is_refused_in_a_list_read_in_large_chunks(
    services: Services, callers: Callers, content_type: str, text: str, refused_line: int
):
    # ASCII chunks are read by a quicker path than other text; it refuses the same.
    journey = await segment(services, callers, None)
    uploaded = await services.uploads.upload(
        callers.editor, journey.id, content_type, body(text.encode())
    )
    assert [(r.line, r.reason) for r in uploaded.first_refused] == [
        (refused_line, ListRefusal.INVALID_ID)
    ]
    assert (uploaded.accepted, uploaded.refused) == (2, 1)


async def test_an_id_with_a_backslash_is_kept_as_written(services: Services, callers: Callers):
    # PostgreSQL's COPY reads a backslash as an escape unless it is doubled.
    journey = await segment(services, callers, None)
    uploaded = await services.uploads.upload(
        callers.editor, journey.id, "text/plain", body(b"ann\\1\n\\\\bob\ncy\n")
    )
    audience = uploaded.journey.latest.content.audience
    assert audience is not None
    assert await services.reads.audience(audience.id, 0, 5) == ["ann\\1", "\\\\bob", "cy"]


async def test_a_csv_upload_reads_its_id_column(services: Services, callers: Callers):
    journey = await segment(services, callers, None)
    text = (
        'email,id,name\na@x.org,ann,"Ann, the first"\nb@x.org,"bob"\nbroken\nc@x.org,cy,"unclosed\n'
    )
    uploaded = await upload(services, callers, journey, text, content_type="text/csv")
    assert uploaded.accepted == 2
    assert [(r.line, r.reason) for r in uploaded.first_refused] == [
        (4, ListRefusal.MALFORMED_LINE),
        (5, ListRefusal.MALFORMED_LINE),
    ]


@pytest.mark.parametrize(
    ("text", "content_type", "why"),
    [
        ("ann\n", "application/json", "text/plain .* or text/csv"),
        ("ann\n", "text/plain; charset=latin-1", "must be UTF-8"),
        ("email,name\na,b\n", "text/csv", "'id' column"),
        ("", "text/csv", "no header line"),
        ("\n\n", "text/plain", "no valid customer id"),
        ("bad\x01\n", "text/plain", "no valid customer id"),
    ],
)
async def test_an_upload_that_gives_no_list_changes_nothing(
    services: Services, callers: Callers, text: str, content_type: str, why: str
):
    journey = await segment(services, callers)
    with pytest.raises(ValidationFailed, match=why):
        await upload(services, callers, journey, text, content_type=content_type)
    after = await services.reads.journey("acme", journey.id)
    assert after is not None and after.latest == journey.latest
    assert await list_rows(services) == (1, 3)  # the inline list only


async def test_an_upload_cut_off_midway_leaves_nothing(services: Services, callers: Callers):
    journey = await segment(services, callers)

    async def cut_off() -> AsyncIterator[bytes]:
        yield b"".join(f"customer-{i}\n".encode() for i in range(30_000))
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await services.uploads.upload(callers.editor, journey.id, "text/plain", cut_off())
    after = await services.reads.journey("acme", journey.id)
    assert after is not None and after.latest == journey.latest
    assert await list_rows(services) == (1, 3)


async def test_who_may_upload_and_where(services: Services, callers: Callers):
    journey = await segment(services, callers)
    with pytest.raises(Forbidden):
        await upload(services, callers, journey, "ann\n", caller=callers.viewer)
    with pytest.raises(NotFound):
        await upload(services, callers, journey, "ann\n", caller=callers.outsider)
    event = await services.commands.create(
        callers.editor,
        name="Welcome",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(steps=(OFFER,), trigger_event="signup"),
    )
    with pytest.raises(ValidationFailed, match="only a segment journey"):
        await upload(services, callers, event, "ann\n")


async def test_the_list_is_fixed_once_the_journey_has_run(services: Services, callers: Callers):
    journey = await segment(services, callers)
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    read: list[bytes] = []

    async def never_read() -> AsyncIterator[bytes]:
        read.append(b"x")
        yield b"ann\n"

    with pytest.raises(TransitionNotAllowed, match="cannot change"):
        await services.uploads.upload(callers.editor, journey.id, "text/plain", never_read())
    assert read == []  # refused before a byte of the body was read
    with pytest.raises(TransitionNotAllowed, match="cannot change"):
        await services.commands.update(callers.editor, journey.id, {}, audience_ids=["zed"])


# -- loading ----------------------------------------------------------------------


async def test_the_birthday_list_loads_then_the_journey_closes_and_keeps_sending(
    services: Services, callers: Callers, clock: Any, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service.segments, "LOAD_BATCH", 2)
    journey = await segment(services, callers, [f"born-in-may-{i}" for i in range(5)])
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)

    assert await services.loading.load_batch() == 2  # a batch at a time
    assert (await stats(services, journey)).entered == 2
    assert await services.loading.run_all() == 3
    assert await status_of(services, journey) is Status.CLOSED
    [*_, loaded] = await services.reads.status_events("acme", journey_id=journey.id)
    assert loaded.change.action is Action.AUDIENCE_LOADED
    assert loaded.change.actor.kind is ActorKind.SYSTEM

    await services.processing.run_all()
    assert (await stats(services, journey)).delivered == 5  # the offers
    clock.advance(days=1)
    await services.processing.run_all()
    counted = await stats(services, journey)
    assert (counted.delivered, counted.completed, counted.inside) == (10, 5, 0)


async def test_a_scheduled_segment_loads_at_its_start(
    services: Services, callers: Callers, clock: Any
):
    journey = await segment(services, callers, start_at=T0 + timedelta(hours=1))
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    assert await services.loading.run_all() == 0  # SCHEDULED: nothing loads yet
    clock.advance(hours=1)
    await services.commands.apply_all_due()
    assert await services.loading.run_all() == 3
    assert await status_of(services, journey) is Status.CLOSED


@pytest.mark.parametrize(
    ("stop", "restart"),
    [(Action.FREEZE, Action.REACTIVATE), (Action.FAIL, Action.RECOVER)],
    ids=["frozen", "error"],
)
async def test_a_load_stopped_midway_resumes_where_it_stopped_without_repeats(
    services: Services,
    callers: Callers,
    monkeypatch: pytest.MonkeyPatch,
    stop: Action,
    restart: Action,
):
    monkeypatch.setattr(service.segments, "LOAD_BATCH", 2)
    journey = await segment(services, callers, [f"c{i}" for i in range(7)])
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.loading.load_batch()
    await services.commands.take(callers.admin, journey.id, stop, reason="held for a check")
    assert await services.loading.run_all() == 0  # FROZEN and ERROR stop the load
    assert (await stats(services, journey)).entered == 2

    await services.commands.take(callers.admin, journey.id, restart)
    assert await services.loading.run_all() == 5
    counted = await stats(services, journey)
    assert (counted.entered, counted.inside) == (7, 7)
    assert await status_of(services, journey) is Status.CLOSED


async def test_a_paused_segment_keeps_loading_and_closes_once_resumed(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service.segments, "LOAD_BATCH", 2)
    journey = await segment(services, callers, [f"c{i}" for i in range(5)])
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.commands.take(callers.editor, journey.id, Action.PAUSE)
    assert await services.loading.run_all() == 5  # PAUSED admits: the load goes on
    await services.processing.run_all()
    counted = await stats(services, journey)
    assert (counted.inside, counted.delivered) == (5, 0)  # held at their first step
    assert await status_of(services, journey) is Status.PAUSED

    await services.commands.take(callers.editor, journey.id, Action.RESUME)
    await services.loading.run_all()
    assert await status_of(services, journey) is Status.CLOSED
    await services.processing.run_all()
    assert (await stats(services, journey)).delivered == 5


async def test_a_customer_already_inside_is_not_admitted_again(
    services: Services, callers: Callers
):
    journey = await segment(services, callers, ["ann", "bob", "cy"])
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.entry.enroll(callers.editor, journey.id, ["bob"])
    assert await services.loading.run_all() == 2
    counted = await stats(services, journey)
    assert (counted.entered, counted.inside) == (3, 3)


async def test_abort_mid_load_stops_it_and_everyone_is_out(
    services: Services, callers: Callers, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service.segments, "LOAD_BATCH", 2)
    journey = await segment(services, callers, [f"c{i}" for i in range(5)])
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.loading.load_batch()
    await services.commands.take(callers.editor, journey.id, Action.ABORT)
    assert await services.loading.run_all() == 0
    counted = await stats(services, journey)
    assert (counted.entered, counted.inside, counted.exited) == (2, 0, 2)


async def test_a_copy_runs_the_same_list_again(services: Services, callers: Callers):
    journey = await segment(services, callers)
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)
    await services.loading.run_all()
    copy = await services.commands.copy(callers.editor, journey.id, "May birthdays, again")
    assert copy.latest.content.audience == journey.latest.content.audience
    await services.commands.take(callers.editor, copy.id, Action.ACTIVATE)
    assert await services.loading.run_all() == 3
