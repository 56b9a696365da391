"""Over real HTTP: the audience upload has a limit of its own
(JOURNEYS_MAX_UPLOAD_BYTES, 1 GiB), not the GraphQL body's (JOURNEYS_MAX_BODY_BYTES,
1 MiB). A 50 MB list is taken whole; under a lower upload limit the same list is
refused while it streams in, and leaves the journey and the list tables as they were."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select

from store.database import sync_url
from store.tables import AUDIENCE_LISTS, AUDIENCE_MEMBERS
from tests.e2e.conftest import LiveServer, live_server
from tests.e2e.test_http_protocol import _connect, _read_response
from tests.e2e.test_segment_upload import create_segment, journey, upload
from tests.environment import settings_in

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
CUSTOMERS = 100_000
# Wide columns the upload reads past: 50 MB in 100,000 lines, which load quickly.
NOTES = "n" * 540


def csv_chunks() -> Iterator[bytes]:
    """The 50 MB list, in chunks of about 1 MB."""
    yield b"id,notes\n"
    for start in range(0, CUSTOMERS, 2_000):
        yield "".join(f"c{i:06},{NOTES}\n" for i in range(start, start + 2_000)).encode()


CSV_BYTES = sum(len(chunk) for chunk in csv_chunks())


def list_rows(server: LiveServer) -> tuple[int, int]:
    """(lists, members) in the database."""
    engine = create_engine(sync_url(server.database_url))
    try:
        with engine.connect() as connection:
            lists = connection.execute(select(func.count()).select_from(AUDIENCE_LISTS))
            members = connection.execute(select(func.count()).select_from(AUDIENCE_MEMBERS))
            return int(lists.scalar_one()), int(members.scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def tight_uploads(database_url: str) -> Iterator[LiveServer]:
    """A server whose upload limit is a fifth of the list."""
    with live_server(database_url, max_upload_bytes=10 * MB) as live:
        yield live


def test_a_50_mb_upload_is_taken_under_the_default_limits(server: LiveServer) -> None:
    defaults, size = settings_in({}), CSV_BYTES
    assert size >= 50 * defaults.max_body_bytes and size >= 50 * MB
    assert size < defaults.max_upload_bytes
    journey_id = create_segment(server)

    answer = upload(server, journey_id, b"".join(csv_chunks()))  # with its Content-Length

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["lines"], body["accepted"], body["refused"]) == (CUSTOMERS + 1, CUSTOMERS, 0)
    version = journey(server, journey_id)["latestVersion"]
    assert version["audienceSize"] == CUSTOMERS
    assert version["audience"] == ["c000000", "c000001", "c000002"]


def upload_head(server: LiveServer, journey_id: str, framing: str) -> bytes:
    """The request line and headers of a CSV upload, its body framed by `framing`."""
    host = server.base_url.removeprefix("http://")
    return (
        f"POST /journeys/{journey_id}/audience HTTP/1.1\r\nhost: {host}\r\n"
        f"authorization: Bearer {server.tokens['editor']}\r\n"
        f"content-type: text/csv\r\n{framing}\r\n\r\n"
    ).encode()


def test_an_upload_over_its_limit_is_refused_while_it_streams(
    tight_uploads: LiveServer,
) -> None:
    server = tight_uploads
    journey_id = create_segment(server, audience=["ann"])
    before = list_rows(server)
    with _connect(server) as sock:
        sock.sendall(upload_head(server, journey_id, "transfer-encoding: chunked"))
        # Just past the limit, of a list that would go on to 50 MB: the server must
        # answer without the rest (and without the final empty chunk).
        sent = 0
        for chunk in csv_chunks():
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            if sent > 10 * MB:
                break
        # Answered with most of the list and the final empty chunk never sent.
        status, headers, body = _read_response(sock)

    assert status == 413
    assert headers["connection"] == "close"
    [error] = json.loads(body)["errors"]
    assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "limit": 10 * MB}
    assert "JOURNEYS_MAX_UPLOAD_BYTES" in error["message"]
    assert journey(server, journey_id)["latestVersion"]["audienceSize"] == 1
    assert list_rows(server) == before  # the rows it had written are gone


def test_an_upload_declared_over_its_limit_is_refused_before_its_body(
    tight_uploads: LiveServer,
) -> None:
    server = tight_uploads
    journey_id = create_segment(server, audience=["ann"])
    before = list_rows(server)
    with _connect(server) as sock:
        sock.sendall(upload_head(server, journey_id, f"content-length: {CSV_BYTES}"))
        # Not one byte of the body sent: the answer comes from the headers alone.
        status, headers, body = _read_response(sock)

    assert status == 413 and headers["connection"] == "close"
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert journey(server, journey_id)["latestVersion"]["audienceSize"] == 1
    assert list_rows(server) == before
