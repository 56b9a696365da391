"""Schemathesis against the GraphQL endpoint of a real server: the schema as a client
sees it (introspection), and for each of its queries and mutations documents that
fit it (any values) and documents that break it (a wrong type, a missing argument),
sent over HTTP as a viewer, an editor or an admin. Half the ids in valid documents
are those of journeys made first, one in each of a few statuses, so that commands
run and refuse on real rows rather than all stopping at NOT_FOUND.

Besides schemathesis's own checks (a GraphQL response whose data fits the schema; a
broken document refused), the fuzz tests' (tests/e2e/fuzzing.py): never a 5xx, never
a traceback, a code on every error, and no write by a request refused as a whole.
The budget is `JOURNEYS_FUZZ_EXAMPLES` (CI: 500): three quarters of it for each kind
of document, so that CI runs about 2,000 fuzz cases in all with test_fuzz.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, Config, GenerationMode
from schemathesis.checks import negative_data_rejection, response_schema_conformance

from tests.e2e.conftest import LiveServer
from tests.e2e.fuzzing import (
    DATE_TIMES,
    EXAMPLES,
    JSON_VALUES,
    Writes,
    checked,
    refused_as_a_whole,
    start_quiet_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

schemathesis.graphql.scalar("DateTime", DATE_TIMES)
schemathesis.graphql.scalar("JSON", JSON_VALUES)

BUDGET = settings(
    max_examples=max(1, EXAMPLES * 3 // 4),
    deadline=None,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)

CREATE = "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id } }"
STEPS = [{"type": "SEND", "channel": "log", "template": "t"}]


def journeys_in_a_few_statuses(server: LiveServer) -> list[str]:
    """DESIGNING, ACTIVE, PAUSED and ABORTED."""
    ids: list[str] = []
    for actions in ([], ["activate"], ["activate", "pause"], ["activate", "abort"]):
        journey = {"name": f"Seed {len(ids)}", "kind": "EVENT_TRIGGERED", "triggerEvent": "signup"}
        created = server.data(CREATE, {"i": {**journey, "steps": STEPS}})
        journey_id: str = created["createJourney"]["id"]
        for action in actions:
            mutation = f"mutation($id: ID!) {{ {action}Journey(id: $id) {{ status }} }}"
            server.data(mutation, {"id": journey_id})
        ids.append(journey_id)
    return ids


def config_drawing(ids: list[str]) -> Config:
    """Schemathesis's dictionaries: every argument `id` or `journeyId` is one of `ids`
    half the time (valid documents only: a broken one keeps what it broke)."""
    binding = {"dictionary": "journeys", "probability": 0.5}
    return Config.from_dict(
        {
            "dictionaries": {"journeys": {"values": ids}},
            "parameters": {"*.*.id": binding, "*.*.journeyId": binding},
        }
    )


@pytest.fixture
def quiet_server(tmp_path, sqlite_template) -> Iterator[LiveServer]:
    live = start_quiet_server(tmp_path, sqlite_template)
    yield live
    live.stop()


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "broken"]
)
def test_schemathesis_cases_are_answered_or_refused_cleanly(
    quiet_server: LiveServer, mode: GenerationMode
) -> None:
    endpoint = f"{quiet_server.base_url}/graphql"
    schema = schemathesis.graphql.from_url(
        endpoint,
        config=config_drawing(journeys_in_a_few_statuses(quiet_server)),
        headers={"Authorization": f"Bearer {quiet_server.tokens['admin']}"},
    )
    session = requests.Session()
    writes = Writes(quiet_server)

    @BUDGET
    @given(schema.as_strategy(generation_mode=mode), st.sampled_from(["viewer", "editor", "admin"]))
    def run(case: Case[Any], role: str) -> None:
        before = writes.count()
        headers = {"Authorization": f"Bearer {quiet_server.tokens[role]}"}
        response = case.call(base_url=endpoint, session=session, headers=headers, timeout=30)
        result = checked(response.status_code, response.text)
        if refused_as_a_whole(result):
            changed = writes.count() != before
            assert not changed, f"a refused request changed the database: {result}"
        case.validate_response(
            response,
            checks=[response_schema_conformance, negative_data_rejection],
            headers=headers,
        )

    try:
        run()
    finally:
        writes.close()
        session.close()
