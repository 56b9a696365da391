"""Over real HTTP: profiles imported as a stream to POST /customers, all or nothing,
then read back through GraphQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from store.database import sync_url
from store.tables import CUSTOMER_IMPORTS, CUSTOMERS
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

CUSTOMER = "query($id: String!) { customer(id: $id) { attributes } }"


def post(
    server: LiveServer,
    content: bytes | Iterator[bytes],
    content_type: str = "application/x-ndjson",
    as_: str | None = "editor",
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if as_:
        headers["Authorization"] = f"Bearer {server.tokens[as_]}"
    return httpx.post(f"{server.base_url}/customers", content=content, headers=headers, timeout=60)


def counts(server: LiveServer) -> tuple[int, int]:
    """(profiles, staged import rows)."""
    engine = create_engine(sync_url(server.database_url))
    try:
        with engine.connect() as connection:
            profiles = connection.execute(select(func.count()).select_from(CUSTOMERS))
            staged = connection.execute(select(func.count()).select_from(CUSTOMER_IMPORTS))
            return int(profiles.scalar_one()), int(staged.scalar_one())
    finally:
        engine.dispose()


def profiles(bad_line: int | None = None) -> Iterator[bytes]:
    """3,000 profiles of six attributes, streamed (chunked: no Content-Length)."""
    for i in range(3_000):
        if i + 1 == bad_line:
            yield b'{"id": "c-broken", "attributes": {"plan": \n'
            continue
        profile = {
            "id": f"c-{i:05}",
            "attributes": {
                "email": f"c{i}@example.com",
                "first_name": f"Name {i}",
                "plan": "pro" if i % 3 else "free",
                "age": 20 + i % 50,
                "vip": i % 7 == 0,
                "score": i / 4,
            },
        }
        yield (json.dumps(profile) + "\n").encode()


def test_an_import_is_all_or_nothing_then_read_back(server: LiveServer) -> None:
    refused = post(server, profiles(bad_line=2_718))
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert (body["lines"], body["created"], body["updated"], body["refused"]) == (3_000, 0, 0, 1)
    assert body["firstRefused"] == [
        {
            "line": 2_718,
            "customerId": None,
            "reason": "MALFORMED_LINE",
            "message": body["firstRefused"][0]["message"],
        }
    ]
    assert body["firstRefused"][0]["message"].startswith("not JSON")
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED"
    assert "nothing was imported" in body["errors"][0]["message"]
    assert counts(server) == (0, 0)

    answer = post(server, profiles())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "lines": 3_000,
        "created": 3_000,
        "updated": 0,
        "refused": 0,
        "firstRefused": [],
    }
    update = b"id,plan,city\nc-00042,enterprise,Lyon\nc-99999,,Nice\n"
    answer = post(server, update, "text/csv")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["created"], answer.json()["updated"]) == (1, 1)
    assert counts(server) == (3_001, 0)

    found = server.data(CUSTOMER, {"id": "c-00042"}, as_="viewer")["customer"]
    assert found["attributes"] == {
        "email": "c42@example.com",
        "first_name": "Name 42",
        "plan": "enterprise",
        "age": 62,
        "vip": True,
        "score": 10.5,
        "city": "Lyon",
    }
    assert server.data(CUSTOMER, {"id": "c-99999"})["customer"]["attributes"] == {"city": "Nice"}


def test_refused_imports_say_why(server: LiveServer) -> None:
    line = b'{"id": "ann", "attributes": {"plan": "pro"}}\n'
    for as_, status, code in (
        (None, 401, "UNAUTHENTICATED"),
        ("viewer", 403, "FORBIDDEN"),
    ):
        answer = post(server, line, as_=as_)
        assert answer.status_code == status, answer.text
        assert answer.json()["errors"][0]["extensions"]["code"] == code
    answer = post(server, line, "application/json")
    assert answer.status_code == 400
    assert "application/x-ndjson" in answer.json()["errors"][0]["message"]
    answer = post(server, b"email\nann@example.com\n", "text/csv")
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert "a CSV import needs an id column" in error["message"]
    assert counts(server) == (0, 0)
