"""Positions the API hands out, through the schema, on SQLite and PostgreSQL:
`journeys(first, after)` pages that follow each other within a workspace, with
cursors that tell nothing about another, and status events numbered per workspace.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import pytest

from domain.actions import Action
from domain.content import Content, JourneyKind, Step, StepType
from gql.context import Context
from gql.journeys.queries import encode_cursor
from gql.schema import schema
from service.services import Services
from service.tokens import Principal
from tests.conftest import Callers

pytestmark = pytest.mark.anyio

PAGE = """query($first: Int, $after: String, $label: String) {
  journeys(first: $first, after: $after, filter: {label: $label}) {
    totalCount
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
CONTENT = Content(steps=(Step(StepType.SEND, channel="log", template="t"),), trigger_event="e")


async def run(services: Services, principal: Principal, **variables: Any) -> dict[str, Any]:
    result = await schema.execute(
        PAGE, variables, context_value=Context.of_principal(services, principal)
    )
    body: dict[str, Any] = result.data or {}
    if result.errors:
        body["errors"] = [
            {"message": error.message, "extensions": error.extensions} for error in result.errors
        ]
    return body


async def page(services: Services, principal: Principal, **variables: Any) -> dict[str, Any]:
    body = await run(services, principal, **variables)
    assert "errors" not in body, body["errors"]
    journeys: dict[str, Any] = body["journeys"]
    return journeys


async def refusal(services: Services, principal: Principal, **variables: Any) -> dict[str, Any]:
    body = await run(services, principal, **variables)
    assert body.get("journeys") is None and len(body.get("errors", [])) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


async def create(services: Services, principal: Principal, name: str, *labels: str) -> str:
    journey = await services.commands.create(
        principal, name=name, kind=JourneyKind.EVENT_TRIGGERED, content=CONTENT, labels=labels
    )
    return journey.id


def ids(found: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in found["edges"]]


async def test_cursors_hold_nothing_another_workspace_did(services: Services, callers: Callers):
    # acme's journeys are made while `other` makes its own in between: row ids
    # shared by both would put gaps in acme's cursors that count other's journeys.
    mine = [await create(services, callers.editor, "A0")]
    for index in range(5):
        await create(services, callers.outsider, f"B{index}")
    mine.append(await create(services, callers.editor, "A1"))
    mine.append(await create(services, callers.editor, "A2"))
    for index in range(3):
        await create(services, callers.outsider, f"C{index}")

    found = await page(services, callers.viewer, first=10)
    assert ids(found) == mine[::-1] and found["totalCount"] == 3
    for edge in found["edges"]:
        decoded = base64.urlsafe_b64decode(edge["cursor"]).decode()
        # What a client can read out of a cursor is the journey it already has.
        leftover = decoded.replace(edge["node"]["id"], "")
        assert not re.search(r"\d", leftover), decoded

    # Journeys other makes later change nothing acme was given.
    for index in range(4):
        await create(services, callers.outsider, f"D{index}")
    assert await page(services, callers.viewer, first=10) == found


async def test_pages_follow_each_other_in_the_workspace(services: Services, callers: Callers):
    mine = []
    for index in range(5):
        mine.append(await create(services, callers.editor, f"A{index}", "vip"))
        await create(services, callers.outsider, f"B{index}", "vip")
    newest_first = mine[::-1]

    seen: list[str] = []
    after = None
    for expected_next in (True, True, False):
        found = await page(services, callers.viewer, first=2, after=after)
        assert found["totalCount"] == 5
        assert found["pageInfo"]["hasNextPage"] is expected_next
        assert found["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert found["pageInfo"]["endCursor"] == found["edges"][-1]["cursor"]
        seen += ids(found)
        after = found["pageInfo"]["endCursor"]
    assert seen == newest_first

    # With a filter, and from the last journey: an empty page, not a refusal.
    labelled = await page(
        services, callers.viewer, first=3, after=encode_cursor(mine[4]), label="vip"
    )
    assert ids(labelled) == newest_first[1:4]
    last = await page(services, callers.viewer, first=3, after=encode_cursor(mine[0]))
    assert last["edges"] == [] and last["pageInfo"]["hasNextPage"] is False


async def test_a_cursor_of_no_journey_of_yours_is_refused_the_same_way(
    services: Services, callers: Callers
):
    await create(services, callers.editor, "A")
    foreign = await create(services, callers.outsider, "B")
    theirs = (await page(services, callers.outsider, first=1))["edges"][0]["cursor"]
    deleted = await create(services, callers.editor, "Gone")
    await services.commands.delete(callers.editor, deleted)

    refusals = [
        await refusal(services, callers.viewer, first=5, after=cursor)
        for cursor in (theirs, encode_cursor(str(uuid.uuid4())), encode_cursor(deleted))
    ]
    # Another workspace's journey, one that never was and one deleted since are
    # told apart by nothing, and none is named back.
    assert all(error == refusals[0] for error in refusals), refusals
    assert refusals[0]["extensions"] == {"code": "VALIDATION_FAILED"}
    assert "no journey of your workspace" in refusals[0]["message"]
    assert foreign not in refusals[0]["message"]
    # The owner pages on with it.
    assert (await page(services, callers.outsider, first=5, after=theirs))["edges"] == []


EVENTS = """query($id: ID!) {
  statusEvents(journeyId: $id) { sequence }
  journey(id: $id) { history { sequence } }
}"""


async def test_status_events_are_numbered_per_workspace(services: Services, callers: Callers):
    # statusEvents, history and statusChanged(after:) share these numbers: each
    # workspace has its own counter, so another's changes leave no gap in them.
    mine = await create(services, callers.editor, "A")
    theirs = await create(services, callers.outsider, "B")
    await services.commands.take(callers.editor, mine, Action.ACTIVATE)
    for action in (Action.ACTIVATE, Action.PAUSE, Action.RESUME):
        await services.commands.take(callers.outsider, theirs, action)
    await services.commands.take(callers.editor, mine, Action.PAUSE)

    result = await schema.execute(
        EVENTS, {"id": mine}, context_value=Context.of_principal(services, callers.viewer)
    )
    assert result.errors is None and result.data is not None
    assert result.data["statusEvents"] == [{"sequence": 1}, {"sequence": 2}]
    assert result.data["journey"]["history"] == [{"sequence": 1}, {"sequence": 2}]
