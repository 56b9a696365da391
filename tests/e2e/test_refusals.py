"""Bad input and refusals over HTTP: a code, a sentence, and nothing changed."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.conftest import T0
from tests.e2e.conftest import LiveServer
from tests.e2e.test_walkthrough import CREATE, act, create

STATE = "query($id: ID!) { journey(id: $id) { status revision history { sequence } } }"
UPDATE = """
mutation($id: ID!, $input: UpdateJourneyInput!, $rev: Int) {
  updateJourney(id: $id, input: $input, expectedRevision: $rev) { revision }
}"""


def state(server: LiveServer, journey_id: str) -> dict:
    result: dict = server.data(STATE, {"id": journey_id})["journey"]
    return result


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        (UPDATE, {"input": {"startAt": "2030-02-01T10:00:00"}}, "VALIDATION_FAILED"),
        (UPDATE, {"input": {"startAt": "yesterday"}}, "VALIDATION_FAILED"),
        (
            UPDATE,
            {"input": {"startAt": "2030-03-01T10:00:00Z", "endAt": "2030-02-01T10:00:00Z"}},
            "VALIDATION_FAILED",
        ),
        (UPDATE, {"input": {"steps": [{"type": "JUMP"}]}}, "GRAPHQL_VALIDATION_FAILED"),
        (UPDATE, {"input": {"steps": [{"type": "SEND", "channel": "fax"}]}}, "VALIDATION_FAILED"),
        (UPDATE, {"input": {"triggerEvent": "x" * 201}}, "VALIDATION_FAILED"),
        (UPDATE, {"input": {}, "rev": 99}, "REVISION_CONFLICT"),
        (
            'mutation($id: ID!) { renameJourney(id: $id, name: "  ") { id } }',
            {},
            "VALIDATION_FAILED",
        ),
        (
            "mutation($id: ID!, $n: String!) { renameJourney(id: $id, name: $n) { id } }",
            {"n": "n" * 201},
            "VALIDATION_FAILED",
        ),
        ("mutation($id: ID!) { pauseJourney(id: $id) { id } }", {}, "TRANSITION_NOT_ALLOWED"),
        ("mutation($id: ID!) { recoverJourney(id: $id) { id } }", {}, "FORBIDDEN"),
        (
            "mutation($id: ID!) { activateJourney(id: $id, expectedRevision: 0) { id } }",
            {},
            "REVISION_CONFLICT",
        ),
        ("mutation($id: ID!) { activateJourney(id: $id { id } }", {}, "GRAPHQL_PARSE_FAILED"),
        (
            "mutation($id: ID!) { activateJourney(id: $id) { nope } }",
            {},
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ],
)
def test_refused_requests_change_nothing(
    server: LiveServer, query: str, variables: dict, code: str
):
    journey_id = create(server, startAt=(T0 + timedelta(days=1)).isoformat())
    before = state(server, journey_id)
    error = server.error(query, {"id": journey_id, **variables})
    assert error["extensions"]["code"] == code
    assert error["message"] and "Traceback" not in error["message"]
    assert state(server, journey_id) == before


def test_transition_refusal_explains_itself(server: LiveServer):
    journey_id = create(server)
    error = server.error("mutation($id: ID!) { closeJourney(id: $id) { id } }", {"id": journey_id})
    assert error["extensions"] == {
        "code": "TRANSITION_NOT_ALLOWED",
        "status": "DESIGNING",
        "allowedActions": ["ACTIVATE"],
        "reason": "CLOSE is not allowed from DESIGNING",
    }
    incomplete = server.data(CREATE, {"input": {"name": "Empty", "kind": "SEGMENT_SCHEDULED"}})
    error = server.error(
        "mutation($id: ID!) { activateJourney(id: $id) { id } }",
        {"id": incomplete["createJourney"]["id"]},
    )
    assert "at least one step" in error["message"] and "audience" in error["message"]


def test_who_may_do_what(server: LiveServer):
    journey_id = create(server)
    assert server.error("{ viewer { role } }", as_=None)["extensions"]["code"] == "UNAUTHENTICATED"
    server.tokens["forged"] = "jrn_forged"
    assert (
        server.error("{ viewer { role } }", as_="forged")["extensions"]["code"] == "UNAUTHENTICATED"
    )
    viewer = server.error(
        "mutation($id: ID!) { activateJourney(id: $id) { id } }", {"id": journey_id}, as_="viewer"
    )
    assert viewer["extensions"]["code"] == "FORBIDDEN"
    assert server.data("{ viewer { workspace role } }", as_="viewer")["viewer"] == {
        "workspace": "acme",
        "role": "VIEWER",
    }
    # Another workspace's journey does not exist for this caller.
    assert server.data(STATE, {"id": journey_id}, as_="outsider")["journey"] is None
    foreign = server.error(
        "mutation($id: ID!) { abortJourney(id: $id) { id } }", {"id": journey_id}, as_="outsider"
    )
    assert foreign["extensions"]["code"] == "NOT_FOUND"
    # Buttons differ by role.
    actions = "query($id: ID!) { journey(id: $id) { availableActions canEdit canDelete } }"
    assert server.data(actions, {"id": journey_id}, as_="viewer")["journey"] == {
        "availableActions": [],
        "canEdit": False,
        "canDelete": False,
    }
    act(server, "activateJourney", journey_id)
    assert server.data(actions, {"id": journey_id}, as_="admin")["journey"] == {
        "availableActions": ["PAUSE", "FREEZE", "CLOSE", "ABORT", "FAIL"],
        "canEdit": False,
        "canDelete": False,
    }


def test_page_size_is_capped(server: LiveServer):
    error = server.error("{ journeys(first: 101) { totalCount } }")
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    error = server.error('{ journeys(after: "garbage") { totalCount } }')
    assert error["extensions"]["code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize(
    ("method", "body", "headers"),
    [
        ("POST", b"{not json", {"content-type": "application/json"}),
        ("POST", b'{"variables": {}}', {"content-type": "application/json"}),
        ("POST", b"[1, 2]", {"content-type": "application/json"}),
        ("POST", b"query=x", {"content-type": "text/plain"}),
        ("GET", None, {"accept": "application/json"}),
    ],
)
def test_malformed_requests_never_get_a_500(server: LiveServer, method: str, body, headers):
    headers = {**headers, "Authorization": f"Bearer {server.tokens['editor']}"}
    response = httpx.request(method, f"{server.base_url}/graphql", content=body, headers=headers)
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.text


def test_a_mutation_over_get_is_refused(server: LiveServer):
    response = httpx.get(
        f"{server.base_url}/graphql",
        params={
            "query": 'mutation { createJourney(input: {name: "x", kind: EVENT_TRIGGERED}) { id } }'
        },
        headers={"Authorization": f"Bearer {server.tokens['editor']}"},
    )
    assert response.status_code in (400, 405)
    assert server.data("{ journeys { totalCount } }")["journeys"]["totalCount"] == 0


def test_abusive_documents_are_refused(server: LiveServer):
    deep = "{ journeys { nodes { " + "copiedFrom { " * 9 + "id" + " }" * 11 + " }"
    assert server.error(deep)["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    aliases = "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(31)) + " }"
    assert server.error(aliases)["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_a_subscription_over_http_is_refused_not_failed(server: LiveServer):
    # Subscriptions are served over WebSocket; over HTTP there is nothing to stream them on.
    response = httpx.post(
        f"{server.base_url}/graphql",
        json={"query": "subscription { statusChanged { sequence } }"},
        headers={"Authorization": f"Bearer {server.tokens['viewer']}"},
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "SUBSCRIPTION_NEEDS_WEBSOCKET"
    assert "Subscriptions are not allowed over HTTP" in error["message"]
    assert "Traceback" not in response.text
