"""Over real HTTP: a segment list uploaded as a stream to POST /journeys/{id}/audience,
loaded by the server's own loader when the journey runs, and its messages sent;
and every way an upload is refused, each leaving the journey as it was."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from store.database import sync_url
from store.tables import AUDIENCE_LISTS
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"
TAKE = "mutation($id: ID!) { %s(id: $id) { status } }"
JOURNEY = """
query($id: ID!) {
  journey(id: $id) {
    status
    latestVersion { number audienceSize audience(first: 3) }
    stats { entered inFlight delivered completed }
    steps { customers }
    history(first: 10) { action actor { kind } }
  }
}
"""
BIRTHDAY_STEPS = [
    {"type": "SEND", "channel": "log", "template": "birthday-offer"},
    {"type": "WAIT", "seconds": 86_400},
    {"type": "SEND", "channel": "log", "template": "thank-you"},
]


def create_segment(server: LiveServer, **input: Any) -> str:
    journey = {"name": "Born in May", "kind": "SEGMENT_SCHEDULED", "steps": BIRTHDAY_STEPS}
    return str(server.data(CREATE, {"input": journey | input})["createJourney"]["id"])


def upload(
    server: LiveServer,
    journey_id: str,
    content: bytes | Iterator[bytes],
    *,
    content_type: str = "text/csv",
    as_: str | None = "editor",
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if as_:
        headers["Authorization"] = f"Bearer {server.tokens[as_]}"
    return httpx.post(
        f"{server.base_url}/journeys/{journey_id}/audience",
        content=content,
        headers=headers,
        timeout=60,
    )


def journey(server: LiveServer, journey_id: str) -> dict[str, Any]:
    found: dict[str, Any] = server.data(JOURNEY, {"id": journey_id})["journey"]
    return found


def eventually(server: LiveServer, journey_id: str, done: Callable[[dict[str, Any]], bool]):
    deadline = time.monotonic() + 60
    while not done(found := journey(server, journey_id)):
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    return found


def test_the_birthday_campaign_end_to_end(server: LiveServer) -> None:
    journey_id = create_segment(server)

    def csv_lines() -> Iterator[bytes]:  # streamed, chunked: no Content-Length
        yield b"id,first_name,birthday\n"
        for i in range(3_000):
            yield f"may-{i:05},Name {i},1990-05-{i % 31 + 1:02}\n".encode()
        yield b"may-00007,Again,1990-05-08\n"  # a repeat
        yield b"bad\x01id,Broken,1990-05-01\n"

    answer = upload(server, journey_id, csv_lines())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["lines"], body["accepted"], body["refused"]) == (3_003, 3_000, 2)
    assert body["refusedLines"] == [
        {"line": 3_002, "customerId": "may-00007", "reason": "DUPLICATE"},
        {"line": 3_003, "customerId": "bad\x01id", "reason": "INVALID_ID"},
    ]
    version = journey(server, journey_id)["latestVersion"]
    assert version["audienceSize"] == 3_000
    assert version["audience"] == ["may-00000", "may-00001", "may-00002"]

    assert server.data(TAKE % "activateJourney", {"id": journey_id})["activateJourney"] == {
        "status": "ACTIVE"
    }
    # The server's loader enters everyone, closes the journey, and the offers go out.
    found = eventually(
        server,
        journey_id,
        lambda j: j["status"] == "CLOSED" and j["stats"]["delivered"] == 3_000,
    )
    assert found["stats"]["entered"] == 3_000 and found["stats"]["inFlight"] == 3_000
    loaded = found["history"][-1]  # oldest first
    assert (loaded["action"], loaded["actor"]["kind"]) == ("AUDIENCE_LOADED", "SYSTEM")

    # A day later the thank-yous follow, in the CLOSED journey. The day is counted from
    # when each customer's WAIT was applied, after the offer: the clock moves once all
    # of them wait at the thank-you (a WAIT applied after the move would end a day on).
    eventually(server, journey_id, lambda j: j["steps"][2]["customers"] == 3_000)
    server.clock.advance(days=1)
    found = eventually(server, journey_id, lambda j: j["stats"]["delivered"] == 6_000)
    assert found["stats"]["completed"] == 3_000


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["errors"][0]
    return response.status_code, error["extensions"]["code"], error["message"]


def list_count(server: LiveServer) -> int:
    engine = create_engine(sync_url(server.database_url))
    try:
        with engine.connect() as connection:
            counted = connection.execute(select(func.count()).select_from(AUDIENCE_LISTS))
            return int(counted.scalar_one())
    finally:
        engine.dispose()


def test_every_refused_upload_says_why_and_changes_nothing(server: LiveServer) -> None:
    journey_id = create_segment(server, audience=["ann", "bob"])
    lists = list_count(server)

    assert refusal(upload(server, journey_id, b"id\nann\n", as_=None))[:2] == (
        401,
        "UNAUTHENTICATED",
    )
    assert refusal(upload(server, journey_id, b"id\nann\n", as_="viewer"))[:2] == (
        403,
        "FORBIDDEN",
    )
    assert refusal(upload(server, journey_id, b"id\nann\n", as_="outsider"))[:2] == (
        404,
        "NOT_FOUND",
    )
    assert refusal(upload(server, "not-a-journey", b"id\nann\n"))[:2] == (404, "NOT_FOUND")
    status, code, message = refusal(upload(server, journey_id, b"{}", content_type="text/json"))
    assert (status, code) == (400, "VALIDATION_FAILED") and "text/csv" in message
    status, code, message = refusal(upload(server, journey_id, b"name\nann\n"))
    assert (status, code) == (400, "VALIDATION_FAILED") and "'id' column" in message

    server.data(TAKE % "activateJourney", {"id": journey_id})
    status, code, message = refusal(upload(server, journey_id, b"id\ncy\n"))
    assert (status, code) == (409, "TRANSITION_NOT_ALLOWED") and "cannot change" in message

    assert journey(server, journey_id)["latestVersion"]["audienceSize"] == 2
    assert list_count(server) == lists


def test_an_upload_cut_off_midway_is_not_applied(server: LiveServer) -> None:
    journey_id = create_segment(server, audience=["ann"])
    lists = list_count(server)
    port = int(server.base_url.rsplit(":", 1)[1])
    lines = b"".join(f"customer-{i}\n".encode() for i in range(50_000))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.sendall(
            (
                f"POST /journeys/{journey_id}/audience HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {server.tokens['editor']}\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(lines) * 2}\r\n\r\n"
            ).encode()
            + lines
        )
        time.sleep(0.3)  # the server has taken what was sent
    deadline = time.monotonic() + 60
    while list_count(server) != lists:  # the partial list is removed
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert journey(server, journey_id)["latestVersion"]["audienceSize"] == 1
