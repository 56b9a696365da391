"""The per-token rate limit on mutations: RATE_LIMITED with retryAfter, 429 with
Retry-After over HTTP, queries never limited, each token counted apart; in
distributed mode the counts are shared through Redis."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import LiveServer, live_server

pytestmark = pytest.mark.e2e

RENAME = 'mutation($id: ID!) { renameJourney(id: $id, name: "Renamed") { name } }'
CREATE = "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id } }"


@pytest.fixture
def limited(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, mutation_rate_limit="3/minute") as live:
        yield live


def test_mutations_over_the_rate_are_refused_with_when_to_retry(limited: LiveServer) -> None:
    journey = {"name": "Limited", "kind": "EVENT_TRIGGERED"}
    journey_id = limited.data(CREATE, {"i": journey})["createJourney"]["id"]
    for _ in range(2):
        limited.data(RENAME, {"id": journey_id})
    answer = httpx.post(
        f"{limited.base_url}/graphql",
        json={"query": RENAME, "variables": {"id": journey_id}},
        headers={"Authorization": f"Bearer {limited.tokens['editor']}"},
    )
    assert answer.status_code == 429
    [error] = answer.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= error["extensions"]["retryAfter"] <= 60
    assert answer.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    assert "wait" in error["message"]

    # Queries are not limited; another token has its own count.
    assert limited.data("{ viewer { role } }", as_="editor") == {"viewer": {"role": "EDITOR"}}
    assert limited.data(RENAME, {"id": journey_id}, as_="admin")["renameJourney"]
