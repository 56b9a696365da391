"""GraphQL over HTTP against a real server: to the letter of the spec (the
`graphql-http` audit), every refusal a GraphQL response with a code and a
sentence, and the body, header and WebSocket limits enforced before the work
they guard.

Limits are measured in bytes, not seconds: a body is refused once the server
has had more than its limit, whatever the client had yet to send; a slow
client is cut off before it has sent what it meant to.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.conftest import JS_DIR, LiveServer, live_server

TIMEOUT = 20.0
GRAPHQL_RESPONSE = "application/graphql-response+json"
NO_JOURNEYS = "{ journeys { totalCount } }"
LIMIT = 64 * 1024  # the tight server's body and WebSocket message limit


@pytest.fixture
def tight(database_url: str) -> Iterator[LiveServer]:
    """A server with small limits, so that tests can pass them in a few bytes."""
    limits = {"max_body_bytes": LIMIT, "ws_max_bytes": LIMIT}
    timeouts = {"header_timeout_seconds": 1.0, "body_timeout_seconds": 1.0}
    with live_server(database_url, **limits, **timeouts) as live:
        yield live


def raw_post(
    server: LiveServer, body: bytes, *, content_type: str = "application/json", accept: str = ""
) -> httpx.Response:
    headers = {
        "authorization": f"Bearer {server.tokens['editor']}",
        "content-type": content_type,
    }
    if accept:
        headers["accept"] = accept
    return httpx.post(f"{server.base_url}/graphql", content=body, headers=headers, timeout=TIMEOUT)


def refusal_of(response: httpx.Response) -> dict[str, Any]:
    """The one error of a refusal: a GraphQL response with a code, a sentence and no data."""
    assert response.headers["content-type"].startswith(("application/json", GRAPHQL_RESPONSE))
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"], error
    assert error["message"].endswith((".", ")")) and len(error["message"].split()) >= 4, error
    assert "Traceback" not in response.text and "INTERNAL" not in response.text
    return dict(error)


def nothing_changed(server: LiveServer) -> None:
    assert server.data(NO_JOURNEYS)["journeys"]["totalCount"] == 0


CREATE_NAMED = (
    "mutation($n: String!) { createJourney(input: {name: $n, kind: EVENT_TRIGGERED}) { id } }"
)


# -- refusals at the protocol level are GraphQL responses ------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "BAD_REQUEST"),
        (b"null", "application/json", 400, "BAD_REQUEST"),
        (b'"hello"', "application/json", 400, "BAD_REQUEST"),
        (b"12345", "application/json", 400, "BAD_REQUEST"),
        (b"\xff\xfe", "application/json", 400, "BAD_REQUEST"),
        (b"", "application/json", 400, "BAD_REQUEST"),
        (b'{"variables": {}}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": 7}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ viewer { role } }", "variables": [1]}', "application/json", 400, None),
        (b'[{"query": "{ viewer { role } }"}]', "application/json", 400, "BATCHING_NOT_SUPPORTED"),
        (b"query=x", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"query": "{ viewer { role } }"}', "", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"query": "{ viewer { role } }"}', "application/json; charset=latin-1", 415, None),
        (
            json.dumps({"query": "subscription { statusChanged { sequence } }"}).encode(),
            "application/json",
            400,
            "SUBSCRIPTION_NEEDS_WEBSOCKET",
        ),
    ],
    ids=lambda value: value.decode("latin-1")[:20] if isinstance(value, bytes) else None,
)
def test_a_malformed_request_is_refused_as_a_graphql_response(
    server: LiveServer, body: bytes, content_type: str, status: int, code: str | None
):
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = raw_post(server, body, content_type=content_type, accept=accept)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(accept)
        error = refusal_of(response)
        assert code is None or error["extensions"]["code"] == code, error
    nothing_changed(server)


def test_a_mutation_over_get_is_405_and_changes_nothing(server: LiveServer):
    response = httpx.get(
        f"{server.base_url}/graphql",
        params={
            "query": 'mutation { createJourney(input: {name: "x", kind: EVENT_TRIGGERED}) { id } }'
        },
        headers={"authorization": f"Bearer {server.tokens['editor']}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert refusal_of(response)["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    nothing_changed(server)


def test_another_method_is_405(server: LiveServer):
    response = httpx.put(f"{server.base_url}/graphql", content=b"{}", timeout=TIMEOUT)
    assert response.status_code == 405
    assert refusal_of(response)["extensions"]["code"] == "METHOD_NOT_ALLOWED"


def test_graphql_response_json_has_the_spec_status_codes(server: LiveServer):
    def ask(query: str, variables: dict[str, Any] | None = None, token: bool = True):
        headers = {"accept": GRAPHQL_RESPONSE}
        if token:
            headers["authorization"] = f"Bearer {server.tokens['viewer']}"
        return httpx.post(
            f"{server.base_url}/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=TIMEOUT,
        )

    ok = ask("{ viewer { role } }")
    assert (ok.status_code, ok.json()) == (200, {"data": {"viewer": {"role": "VIEWER"}}})
    assert ok.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    for query, variables in [
        ("{ viewer { role }", None),  # does not parse
        ("{ viewer { nope } }", None),  # does not validate
        ("query($f: Int!) { journeys(first: $f) { totalCount } }", {"f": "many"}),  # coercion
    ]:
        response = ask(query, variables)
        assert response.status_code == 400, response.text
        assert "data" not in response.json()
    refused = ask("{ viewer { role } }", token=False)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert refusal_of(refused)["extensions"]["code"] == "UNAUTHENTICATED"
    # A field error keeps its data: 200.
    field_error = ask('mutation { pauseJourney(id: "nope") { id } }')
    assert field_error.status_code == 200 and "data" in field_error.json()
    # application/json answers 200 to a well-formed request, whatever its errors.
    legacy = httpx.post(
        f"{server.base_url}/graphql", json={"query": "{ viewer { role }"}, timeout=TIMEOUT
    )
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json; charset=utf-8"
    assert legacy.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_token_is_checked_before_any_document_is_read(server: LiveServer):
    # Without a token, neither a document that does not parse nor one far over
    # the limits is looked at: the answer is the same refusal, at once.
    for query in ["{ viewer {", "{ " + "viewer { role } " * 10_000 + "}"]:
        response = httpx.post(f"{server.base_url}/graphql", json={"query": query}, timeout=TIMEOUT)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# -- the graphql-http conformance audit --------------------------------------------


def test_the_graphql_http_audit_passes_without_a_warning(server: LiveServer, node: str):
    done = subprocess.run(
        [
            node,
            str(JS_DIR / "audit.mjs"),
            "--url",
            f"{server.base_url}/graphql",
            "--token",
            server.tokens["viewer"],
        ],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) > 50, done.stdout
    failing = [result for result in results if result["status"] in ("warn", "error")]
    assert failing == [], json.dumps(failing, indent=1)


# -- the body is capped while it streams in ----------------------------------------


def _connect(server: LiveServer) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one response the server sends, then closes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        body += chunk
    return int(status_line.split()[1]), headers, body


def _headers(server: LiveServer, extra: str) -> bytes:
    host = server.base_url.removeprefix("http://")
    return (
        f"POST /graphql HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {server.tokens['editor']}\r\n{extra}\r\n"
    ).encode()


def test_a_declared_20_mb_body_is_refused_before_a_byte_of_it_is_sent(tight: LiveServer):
    with _connect(tight) as sock:
        sock.sendall(_headers(tight, f"content-length: {20 * 1024 * 1024}\r\n"))
        # Not one byte of the body sent: the answer comes from the headers alone.
        status, headers, body = _read_response(sock)
    assert status == 413
    assert headers["connection"] == "close"
    error = json.loads(body)["errors"][0]
    assert error["extensions"] == {"code": "REQUEST_TOO_LARGE", "limit": LIMIT}
    assert "JOURNEYS_MAX_BODY_BYTES" in error["message"]


def test_a_chunked_body_is_refused_once_past_the_limit(tight: LiveServer):
    chunk = b"x" * 16 * 1024
    with _connect(tight) as sock:
        sock.sendall(_headers(tight, "transfer-encoding: chunked\r\n"))
        sent = 0
        # Just past the limit, of a body that would go on to 20 MB: the server
        # must answer without the rest (and without the final empty chunk).
        while sent <= LIMIT:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        status, _, body = _read_response(sock)
    assert sent < 20 * 1024 * 1024
    assert status == 413
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    nothing_changed(tight)


def test_a_body_within_the_limit_is_served(tight: LiveServer):
    padding = " " * (LIMIT - 100)
    response = raw_post(tight, f'{{"query": "{{ viewer {{ role }} }}"{padding}}}'.encode())
    assert response.status_code == 200 and response.json() == {
        "data": {"viewer": {"role": "EDITOR"}}
    }


# -- slow clients -------------------------------------------------------------------


def test_headers_sent_a_byte_at_a_time_are_cut_off(tight: LiveServer):
    request = _headers(tight, "content-length: 2\r\n") + b"{}"
    sent = 0
    answer = b""
    with _connect(tight) as sock:
        sock.settimeout(0.2)
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # closed by the server
            sent += 1
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            break
    # The server answered (408) and closed before the client had sent its headers.
    assert sent < len(request)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"code":"REQUEST_TIMEOUT"' in answer


def test_a_body_sent_a_byte_at_a_time_is_cut_off(tight: LiveServer):
    body = json.dumps({"query": "{ viewer { role } }"}).encode()
    sent = 0
    answer = b""
    with _connect(tight) as sock:
        sock.sendall(_headers(tight, f"content-length: {len(body)}\r\n"))
        sock.settimeout(0.2)
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sent += 1
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            break
    assert sent < len(body)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"code":"REQUEST_TIMEOUT"' in answer


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.disconnected = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if "disconnected before sending its whole request" in record.getMessage():
            self.disconnected.set()


def test_a_client_leaving_mid_body_is_not_an_error(server: LiveServer):
    records = _Records()
    watched = [
        logging.getLogger(),
        logging.getLogger("uvicorn"),
        logging.getLogger("uvicorn.error"),
    ]
    limits = logging.getLogger("gql.limits")
    level = limits.level
    limits.setLevel(logging.INFO)
    for logger in watched:
        logger.addHandler(records)
    try:
        with _connect(server) as sock:
            sock.sendall(_headers(server, "content-length: 1000\r\n") + b'{"query": "{ vie')
        assert records.disconnected.wait(TIMEOUT), [r.getMessage() for r in records.records]
        # The server goes on serving.
        assert server.data("{ viewer { role } }")["viewer"] == {"role": "EDITOR"}
    finally:
        for logger in watched:
            logger.removeHandler(records)
        limits.setLevel(level)
    errors = [r for r in records.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


# -- WebSocket messages ----------------------------------------------------------


def test_a_websocket_message_over_the_limit_closes_with_1009(tight: LiveServer):
    url = tight.base_url.replace("http", "ws") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=TIMEOUT) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {"padding": "x" * LIMIT}}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
