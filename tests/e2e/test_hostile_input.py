"""Hostile documents, variables, arguments and WebSocket frames against a real
server: refused with a code and a sentence before the work they would cost,
never a 500, an INTERNAL_SERVER_ERROR, a traceback or a dropped socket."""

from __future__ import annotations

import base64
import json

import pytest
from websockets.exceptions import ConnectionClosed

from gql.limits import MAX_DOCUMENT_CHARS, MAX_DOCUMENT_TOKENS, MAX_FRAGMENTS
from tests.e2e.conftest import LiveServer, next_message
from tests.e2e.test_http_protocol import (
    CREATE_NAMED,
    GRAPHQL_RESPONSE,
    TIMEOUT,
    nothing_changed,
    raw_post,
    refusal_of,
)

# -- hostile documents and variables ------------------------------------------------


def _chain(fragments: int) -> str:
    spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(fragments))
    return f"query {{ ...F0 }} {spreads} fragment F{fragments} on Query {{ viewer {{ role }} }}"


def _fan_out(fragments: int) -> str:
    """Each fragment spreads the next twice: 2**fragments fields once spread out."""
    spreads = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(fragments)
    )
    return f"query {{ ...F0 }} {spreads} fragment F{fragments} on Query {{ viewer {{ role }} }}"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ viewer { role } }" + " " * MAX_DOCUMENT_CHARS, "DOCUMENT_TOO_LARGE"),
        ("# " + "x" * (2 * MAX_DOCUMENT_CHARS) + "\n{ viewer { role } }", "DOCUMENT_TOO_LARGE"),
        ("{ " + "viewer { role } " * MAX_DOCUMENT_TOKENS + "}", "DOCUMENT_TOO_LARGE"),
        (_chain(10_000), "DOCUMENT_TOO_LARGE"),
        (_chain(MAX_FRAGMENTS + 1), "DOCUMENT_TOO_COMPLEX"),
        (_fan_out(40), "DOCUMENT_TOO_COMPLEX"),
        ("{ " + "viewer { " * 600 + "role" + " }" * 600 + " }", None),
    ],
    ids=["long", "comment", "tokens", "chain-10000", "chain", "fan-out", "nested"],
)
def test_an_abusive_document_is_refused_before_it_runs(
    server: LiveServer, query: str, code: str | None
):
    error = server.error(query)
    assert code is None or error["extensions"]["code"] == code, error
    assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR"
    assert len(error["message"]) < 300


def test_a_chain_of_fragments_within_the_limit_runs(server: LiveServer):
    assert server.data(_chain(MAX_FRAGMENTS - 1)) == {"viewer": {"role": "EDITOR"}}


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_variables_are_refused(server: LiveServer, depth: int):
    nested = "[" * depth + "]" * depth
    body = '{"query": "mutation($n: String!) { renameJourney(id: \\"x\\", name: $n) { id } }", '
    body += f'"variables": {{"n": {nested}}}}}'
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = raw_post(server, body.encode(), accept=accept)
        assert response.status_code in (200, 400)
        assert accept == "application/json" or response.status_code == 400
        assert refusal_of(response)["extensions"]["code"] == "BAD_REQUEST"


def test_a_lone_surrogate_is_refused_and_nothing_is_written(server: LiveServer):
    # As a JSON escape, the way a client sends it: "\ud800" alone is no character.
    body = json.dumps({"query": CREATE_NAMED, "variables": {"n": "Welcome \ud800"}})
    assert "\\ud800" in body
    response = raw_post(server, body.encode())
    assert response.status_code == 200
    error = refusal_of(response)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "surrogate" in error["message"]
    literal = 'mutation { createJourney(input: {name: "\\ud800", kind: EVENT_TRIGGERED}) { id } }'
    assert server.error(literal)["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    nothing_changed(server)


def test_name_contains_is_capped(server: LiveServer):
    server.data(CREATE_NAMED, {"n": "Welcome"})  # a row, so that the pattern is matched
    query = "query($n: String) { journeys(filter: {nameContains: $n}) { totalCount } }"
    error = server.error(query, {"n": "x" * 50_000})
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert "at most 200" in error["message"]
    assert server.data(query, {"n": "x" * 200})["journeys"]["totalCount"] == 0
    assert server.data(query, {"n": "welc"})["journeys"]["totalCount"] == 1


@pytest.mark.parametrize(
    "text", ["journey:99999999999999999999", "journey:-1", "journey:0", "journey:1e5", "x" * 500]
)
def test_a_cursor_out_of_range_is_refused(server: LiveServer, text: str):
    server.data(CREATE_NAMED, {"n": "Welcome"})
    cursor = base64.urlsafe_b64encode(text.encode()).decode()
    error = server.error("query($c: String) { journeys(after: $c) { totalCount } }", {"c": cursor})
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert "not a cursor this API gave out" in error["message"]
    assert len(error["message"]) < 200


# -- WebSocket frames ---------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize(
    "frame",
    [
        "null",
        "[]",
        "123",
        '"hello"',
        '{"type": 5}',
        '{"type": "subscribe", "id": ["x"], "payload": {"query": "{ viewer { role } }"}}',
        '{"type": "start", "id": "1", "payload": null}',
        '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
        '{"type": "complete", "id": {}}',
    ],
)
def test_a_frame_that_is_no_message_closes_with_4400(server: LiveServer, protocol: str, frame: str):
    with server.websocket(protocol=protocol) as ws:
        ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            # Keep-alives (`ka`) may come first; the close must come all the same.
            for _ in range(3):
                message = json.loads(ws.recv(timeout=TIMEOUT))
                assert message["type"] in ("ka", "ping", "pong"), message
            raise AssertionError("the socket stayed open")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value


def test_a_websocket_subscription_document_over_the_limits_is_an_error(server: LiveServer):
    with server.websocket(protocol="graphql-transport-ws") as ws:
        query = "subscription { statusChanged { sequence } } " + _fan_out(40)
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(ws.recv(timeout=TIMEOUT))
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "DOCUMENT_TOO_COMPLEX"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
def test_websocket_variables_nested_too_deeply_are_an_error(server: LiveServer, protocol: str):
    nested = "[" * 500 + "]" * 500
    query = "subscription($j: ID) { statusChanged(journeyId: $j) { sequence } }"
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    with server.websocket(protocol=protocol) as ws:
        payload = f'{{"query": {json.dumps(query)}, "variables": {{"j": {nested}}}}}'
        ws.send(f'{{"id": "1", "type": "{kind}", "payload": {payload}}}')
        message = next_message(ws)
        assert message["type"] == "error", message
        # graphql-transport-ws sends a list of errors, the legacy protocol one error.
        error = message["payload"][0] if protocol == "graphql-transport-ws" else message["payload"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "nested more than" in error["message"]
