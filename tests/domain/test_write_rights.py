"""The aggregate checks write rights itself: every content and identity command
refuses a viewer (and the system hand, which only takes timed actions) with
FORBIDDEN, whoever calls it, and leaves the journey as it was."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from domain.actions import Actor
from domain.errors import Forbidden
from domain.journey import Journey
from tests.domain.factories import EDITOR, EVENT, NOW, SYSTEM, VIEWER, new_journey, ready_content

Command = Callable[[Journey, Actor], object]

COMMANDS: dict[str, Command] = {
    "edit": lambda journey, actor: journey.edit({"trigger_event": "login"}, actor, NOW),
    "restore": lambda journey, actor: journey.restore(journey.latest, actor, NOW),
    "rename": lambda journey, actor: journey.rename("Renamed", actor, NOW),
    "set_labels": lambda journey, actor: journey.set_labels(["vip"], actor, NOW),
    "check_deletable": lambda journey, actor: journey.check_deletable(actor, NOW),
    "copy": lambda journey, actor: journey.copy(new_id="j2", name=None, author=actor, now=NOW),
}


@pytest.mark.parametrize("actor", [VIEWER, SYSTEM], ids=["viewer", "system"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_caller_without_write_rights_is_refused_and_nothing_changes(
    command: str, actor: Actor
) -> None:
    journey = new_journey()
    before = copy.deepcopy(journey)
    with pytest.raises(Forbidden, match="editor or admin token is needed"):
        COMMANDS[command](journey, actor)
    assert journey == before
    assert journey.new_versions == before.new_versions and journey.events == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_editor_may(command: str) -> None:
    COMMANDS[command](new_journey(), EDITOR)


def test_a_viewer_cannot_create() -> None:
    with pytest.raises(Forbidden):
        Journey.create(
            id="j1",
            workspace_id="acme",
            name="Welcome",
            kind=EVENT,
            content=ready_content(EVENT),
            author=VIEWER,
            now=NOW,
        )
