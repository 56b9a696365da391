"""`journeys audit`: a workspace's status log from a time on, streamed in pages."""

from __future__ import annotations

import json

import pytest
from anyio import to_thread

from cli.main import main
from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType
from service.clock import ManualClock
from service.services import Services
from tests.conftest import T0, Callers

pytestmark = pytest.mark.anyio


async def history(services: Services, callers: Callers, clock: ManualClock) -> str:
    journey = await services.commands.create(
        callers.editor,
        name="Welcome",
        kind=JourneyKind.EVENT_TRIGGERED,
        content=Content(
            steps=(Step(StepType.SEND, channel="log", template="hi"),), trigger_event="e"
        ),
    )
    await services.commands.take(callers.editor, journey.id, Action.ACTIVATE)  # at T0
    clock.advance(hours=1)
    await services.commands.take(callers.editor, journey.id, Action.PAUSE, reason="new offer")
    clock.advance(hours=1)
    await services.commands.take(callers.admin, journey.id, Action.RESUME)
    await services.commands.create(  # another workspace's events are never shown
        callers.outsider, name="Theirs", kind=JourneyKind.EVENT_TRIGGERED, content=Content()
    )
    return journey.id


async def test_the_audit_trail_reads_from_a_time_in_pages(
    services: Services, callers: Callers, clock: ManualClock
):
    await history(services, callers, clock)
    trail = [e async for e in services.reads.audit_trail("acme", T0.replace(minute=30), page=1)]
    assert [(e.change.action, e.change.reason) for e in trail] == [
        (Action.PAUSE, "new offer"),
        (Action.RESUME, None),
    ]
    everything = [e async for e in services.reads.audit_trail("acme", T0, page=2)]
    assert [e.sequence for e in everything] == [1, 2, 3]


async def test_the_audit_command_prints_text_or_json_lines(
    services: Services,
    callers: Callers,
    clock: ManualClock,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    journey_id = await history(services, callers, clock)
    monkeypatch.setenv("DATABASE_URL", database_url)
    since = ["audit", "--workspace", "acme", "--since", "2030-01-01T09:30:00Z"]

    # The command runs its own event loop: off this test's, in a thread.
    assert await to_thread.run_sync(main, since) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "ACTIVE -> PAUSED  PAUSE  by user eddie  reason: new offer" in lines[0]
    assert "PAUSED -> ACTIVE  RESUME  by user ada" in lines[1]
    assert lines[2].startswith("2 events in workspace 'acme'")

    assert await to_thread.run_sync(main, [*since, "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["journeyId"], e["actor"]) for e in events] == [
        ("PAUSE", journey_id, {"kind": "USER", "name": "eddie"}),
        ("RESUME", journey_id, {"kind": "USER", "name": "ada"}),
    ]

    with pytest.raises(SystemExit):
        main(["audit", "--workspace", "acme", "--since", "2030-01-01T09:30:00"])  # no offset
    assert "has no offset" in capsys.readouterr().err
