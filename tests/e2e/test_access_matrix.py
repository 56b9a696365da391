"""Who may call what, over real HTTP and WebSocket: every query, mutation and
subscription of the schema, and the audience upload, for every role of workspace
`acme` and for an admin of workspace `other` given acme's ids.

The cases are checked against the schema itself: a field added without a case
here fails the test. Each call that a role may make succeeds; every other is
FORBIDDEN; a foreign id is always NOT_FOUND (or null, for `journey(id)`), and
no answer to the outsider names an acme journey. A revoked token is refused by
every one of them, and its open sockets are closed, once the trust the README
states (`Tokens.CACHE_FOR`, five seconds) has run out.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from domain.actions import Role
from gql.schema import schema
from service.services import Services
from service.settings import Settings
from service.tokens import Tokens
from tests.e2e.conftest import LiveServer, gauge, next_message

pytestmark = pytest.mark.e2e

T = TypeVar("T")

READY = {
    "name": "Matrix",
    "kind": "EVENT_TRIGGERED",
    "triggerEvent": "signup",
    "steps": [{"type": "SEND", "channel": "log", "template": "t"}],
}
TAKE = "mutation($id: ID!) { %s(id: $id) { status } }"
ROLES = ("viewer", "editor", "admin")
READ, WRITE, ADMIN = set(ROLES), {"editor", "admin"}, {"admin"}


def journey_in(server: LiveServer, status: str) -> str:
    """A fresh acme journey in `status`, made by the editor (and the admin for ERROR)."""
    created = server.data(
        "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id } }", {"i": READY}
    )
    journey_id: str = created["createJourney"]["id"]
    path = {
        "DESIGNING": [],
        "ACTIVE": ["activateJourney"],
        "PAUSED": ["activateJourney", "pauseJourney"],
        "FROZEN": ["activateJourney", "freezeJourney"],
        "ERROR": ["activateJourney", "markJourneyError"],
    }[status]
    for mutation in path:
        server.data(TAKE % mutation, {"id": journey_id}, as_="admin")
    return journey_id


@dataclass(frozen=True)
class Case:
    """A call: its document, the state of the journey it needs (None: no journey),
    its variables for that journey's id, and the roles that may make it."""

    document: str
    state: str | None
    variables: Callable[[str], dict[str, Any]]
    allowed: set[str]
    # A subscription that says nothing until a journey of the caller's workspace changes.
    quiet: bool = False


def on(status: str, document: str, allowed: set[str], **more: Any) -> Case:
    return Case(document, status, lambda journey_id: {"id": journey_id, **more}, allowed)


def take(mutation: str, status: str, allowed: set[str] = WRITE) -> Case:
    return on(status, TAKE % mutation, allowed)


JOURNEY = "query($id: ID!) { journey(id: $id) { id name } }"
MUTATIONS: dict[str, Case] = {
    "activateJourney": take("activateJourney", "DESIGNING"),
    "pauseJourney": take("pauseJourney", "ACTIVE"),
    "resumeJourney": take("resumeJourney", "PAUSED"),
    "freezeJourney": take("freezeJourney", "ACTIVE"),
    "closeJourney": take("closeJourney", "ACTIVE"),
    "reactivateJourney": take("reactivateJourney", "FROZEN"),
    "abortJourney": take("abortJourney", "ACTIVE"),
    "recoverJourney": take("recoverJourney", "ERROR", ADMIN),
    "markJourneyError": take("markJourneyError", "ACTIVE", ADMIN),
    "createJourney": Case(
        "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id } }",
        None,
        lambda _: {"i": READY},
        WRITE,
    ),
    "updateJourney": on(
        "DESIGNING",
        'mutation($id: ID!) { updateJourney(id: $id, input: {triggerEvent: "x"}) { id } }',
        WRITE,
    ),
    "copyJourney": on("ACTIVE", "mutation($id: ID!) { copyJourney(id: $id) { id } }", WRITE),
    "deleteJourney": on("DESIGNING", "mutation($id: ID!) { deleteJourney(id: $id) }", WRITE),
    "renameJourney": on(
        "ACTIVE", 'mutation($id: ID!) { renameJourney(id: $id, name: "R") { id } }', WRITE
    ),
    "setJourneyLabels": on(
        "ACTIVE", 'mutation($id: ID!) { setJourneyLabels(id: $id, labels: ["a"]) { id } }', WRITE
    ),
    "restoreJourneyVersion": on(
        "DESIGNING",
        "mutation($id: ID!) { restoreJourneyVersion(id: $id, number: 1) { id } }",
        WRITE,
    ),
    "trackEvent": Case(
        'mutation { trackEvent(name: "signup", customerId: "ann") { entered { id } } }',
        None,
        lambda _: {},
        WRITE,
    ),
    "trackEvents": Case(
        'mutation { trackEvents(events: [{name: "signup", customerId: "bob"}]) '
        "{ entered { id } } }",
        None,
        lambda _: {},
        WRITE,
    ),
    "enrollCustomers": Case(
        'mutation($id: ID!) { enrollCustomers(journeyId: $id, customerIds: ["cy"]) { admitted } }',
        "ACTIVE",
        lambda journey_id: {"id": journey_id},
        WRITE,
    ),
    "setWebhookEndpoint": Case(
        'mutation { setWebhookEndpoint(url: "http://127.0.0.1:9/hook", '
        'secret: "0123456789abcdef") { url } }',
        None,
        lambda _: {},
        ADMIN,
    ),
    "clearWebhookEndpoint": Case("mutation { clearWebhookEndpoint }", None, lambda _: {}, ADMIN),
    "setSendingRules": Case(
        'mutation { setSendingRules(rules: {timezone: "UTC"}) { timezone } }',
        None,
        lambda _: {},
        ADMIN,
    ),
    "setEmailSender": Case(
        'mutation { setEmailSender(input: {host: "127.0.0.1", port: 9, security: NONE, '
        'fromAddress: "news@acme.example"}) { host } }',
        None,
        lambda _: {},
        ADMIN,
    ),
    "clearEmailSender": Case("mutation { clearEmailSender }", None, lambda _: {}, ADMIN),
    "upsertCustomers": Case(
        'mutation { upsertCustomers(customers: [{id: "ann", attributes: {plan: "pro"}}]) '
        "{ created updated } }",
        None,
        lambda _: {},
        WRITE,
    ),
    "deleteCustomer": Case(
        'mutation { deleteCustomer(id: "ann") { existed } }', None, lambda _: {}, ADMIN
    ),
}
QUERIES: dict[str, Case] = {
    "journey": on("ACTIVE", JOURNEY, READ),
    "journeys": Case("{ journeys(first: 5) { totalCount } }", None, lambda _: {}, READ),
    "statusCounts": Case("{ statusCounts { status count } }", None, lambda _: {}, READ),
    "statusEvents": on(
        "ACTIVE", "query($id: ID!) { statusEvents(journeyId: $id) { sequence } }", READ
    ),
    "viewer": Case("{ viewer { role } }", None, lambda _: {}, READ),
    "webhookEndpoint": Case("{ webhookEndpoint { url } }", None, lambda _: {}, READ),
    "sendingRules": Case("{ sendingRules { timezone } }", None, lambda _: {}, READ),
    "emailSender": Case("{ emailSender { host } }", None, lambda _: {}, READ),
    "customer": Case('{ customer(id: "ann") { id } }', None, lambda _: {}, READ),
    "renderMessage": on(
        "ACTIVE",
        'query($id: ID!) { renderMessage(journeyId: $id, nodeKey: "1", customerId: "ann") '
        "{ subject } }",
        READ,
    ),
    "customerCount": Case(
        '{ customerCount(condition: {attribute: {name: "plan", op: EXISTS}}) }',
        None,
        lambda _: {},
        READ,
    ),
}
SUBSCRIPTIONS: dict[str, Case] = {
    "statusCountsChanged": Case(
        "subscription { statusCountsChanged { status count } }", None, lambda _: {}, READ
    ),
    "statusChanged": on(
        "ACTIVE",
        "subscription($id: ID) { statusChanged(journeyId: $id, after: 0) { action } }",
        READ,
    ),
    "journeyStatsChanged": on(
        "ACTIVE",
        "subscription($id: ID!) { journeyStatsChanged(journeyId: $id) { entered } }",
        READ,
    ),
    "journeyChanged": Case(
        "subscription { journeyChanged { journeyId } }", None, lambda _: {}, READ, quiet=True
    ),
}


def test_every_field_of_the_schema_has_a_case() -> None:
    graphql = schema._schema
    assert graphql.mutation_type and graphql.subscription_type
    assert set(graphql.mutation_type.fields) == set(MUTATIONS)
    assert set(graphql.query_type.fields) == set(QUERIES)
    assert set(graphql.subscription_type.fields) == set(SUBSCRIPTIONS)


def call(server: LiveServer, case: Case, journey_id: str, as_: str) -> dict[str, Any]:
    # A customer of acme's for the calls that need one (renderMessage), whatever ran before.
    server.data(
        'mutation { upsertCustomers(customers: [{id: "ann", attributes: {}}]) { created } }'
    )
    return server.post(case.document, case.variables(journey_id), as_=as_)


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


@pytest.mark.parametrize("field", sorted(MUTATIONS) + sorted(QUERIES))
def test_exactly_the_allowed_roles_succeed_and_a_foreign_id_is_not_found(
    server: LiveServer, field: str
) -> None:
    case = MUTATIONS.get(field) or QUERIES[field]
    for role in ROLES:
        journey_id = journey_in(server, case.state) if case.state else ""
        body = call(server, case, journey_id, role)
        if role in case.allowed:
            assert codes(body) == [], (role, body)
        else:
            assert codes(body) == ["FORBIDDEN"], (role, body)

    # The outsider is an admin of workspace `other`: given acme's id, it finds nothing.
    journey_id = journey_in(server, case.state) if case.state else ""
    body = call(server, case, journey_id, "outsider")
    if case.state is None:
        assert codes(body) == [], body  # it acts in its own workspace
    elif field == "journey":
        assert body == {"data": {"journey": None}}
    elif field == "statusEvents":
        assert body == {"data": {"statusEvents": []}}
    else:
        assert codes(body) == ["NOT_FOUND"], body
        assert journey_id not in json.dumps(body).replace(f"{journey_id!r}", "")
    if case.state:  # ...and acme's journey is as it was
        assert server.data(JOURNEY, {"id": journey_id})["journey"]["name"] == "Matrix"


@pytest.mark.parametrize("field", sorted(SUBSCRIPTIONS))
def test_every_role_may_subscribe_and_a_foreign_journey_is_not_found(
    server: LiveServer, field: str
) -> None:
    case = SUBSCRIPTIONS[field]
    journey_id = journey_in(server, case.state) if case.state else ""
    for role in ("viewer", "editor", "admin", "outsider"):
        if case.quiet:
            listening(server, 0)  # the previous role's has left
        with server.websocket(as_=role) as ws:
            payload = {"query": case.document, "variables": case.variables(journey_id)}
            ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            changed = provoke(server, role) if case.quiet else None
            message = next_message(ws)
            if changed is not None:
                assert message["payload"]["data"][field] == {"journeyId": changed}, message
            if role == "outsider" and case.state:
                # An operation error, or a result whose errors say why: NOT_FOUND either way.
                payload = message["payload"]
                errors = payload if message["type"] == "error" else payload["errors"]
                assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"], message
            else:
                assert message["type"] == "next", message
                assert "errors" not in message["payload"], message


def listening(server: LiveServer, subscribers: int) -> None:
    deadline = time.monotonic() + 10
    while gauge(server, "journeys_subscribers") != subscribers:
        assert time.monotonic() < deadline, f"never {subscribers} subscribers"
        time.sleep(0.02)


def provoke(server: LiveServer, role: str) -> str:
    """Once the caller's subscription listens, a journey is created in acme, then in
    the caller's own workspace: the id the caller must hear of first."""
    listening(server, 1)
    create = "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id } }"
    journey_id: str = server.data(create, {"i": READY})["createJourney"]["id"]
    if role == "outsider":
        journey_id = server.data(create, {"i": READY}, as_="outsider")["createJourney"]["id"]
    return journey_id


def test_the_audience_upload_is_for_editors_and_admins_of_the_journey(server: LiveServer) -> None:
    created = server.data(
        "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id } }",
        {"i": {"name": "Segment", "kind": "SEGMENT_SCHEDULED", "steps": READY["steps"]}},
    )
    journey_id = created["createJourney"]["id"]
    expected = {"viewer": 403, "editor": 200, "admin": 200, "outsider": 404}
    for role, status in expected.items():
        answer = httpx.post(
            f"{server.base_url}/journeys/{journey_id}/audience",
            content=b"ann\nbob\n",
            headers={
                "Authorization": f"Bearer {server.tokens[role]}",
                "Content-Type": "text/plain",
            },
            timeout=30,
        )
        assert answer.status_code == status, (role, answer.text)
        if status == 404:
            assert journey_id not in answer.text.replace(f"'{journey_id}'", "")


# -- a revoked token ---------------------------------------------------------------


def as_operator(server: LiveServer, use: Callable[[Services], Awaitable[T]]) -> T:
    """What `journeys token ...` does: another process's services, on the server's
    database and clock; the server's own trust in a token is left as it is."""

    async def run() -> T:
        services = Services.embedded(Settings(database_url=server.database_url), clock=server.clock)
        try:
            return await use(services)
        finally:
            await services.close()

    return asyncio.run(run())


def close_code(ws: ClientConnection) -> int | None:
    """The code the server closes `ws` with; whatever else it sends first is skipped."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd else None


TOTAL = "{ journeys(first: 0) { totalCount } }"
STATE = "query($id: ID!) { journey(id: $id) { name status } }"


def test_a_revoked_token_is_refused_everywhere_once_the_trust_window_has_passed(
    rechecking_server: LiveServer,
) -> None:
    server = rechecking_server
    # An admin's token: every call is allowed to it, so a refusal is the revocation's.
    server.tokens["revoked"] = as_operator(
        server, lambda services: services.tokens.create("acme", Role.ADMIN, "rita")
    )
    calls = sorted(MUTATIONS.items()) + sorted(QUERIES.items())
    journeys = {field: journey_in(server, c.state) if c.state else "" for field, c in calls}
    segment = server.data(
        "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id } }",
        {"i": {"name": "Segment", "kind": "SEGMENT_SCHEDULED", "steps": READY["steps"]}},
    )["createJourney"]["id"]
    authorization = f"Bearer {server.tokens['revoked']}"
    # Used now, the token is trusted by the server from here on.
    assert codes(server.post(TOTAL, as_="revoked")) == []
    total = server.data(TOTAL)["journeys"]["totalCount"]

    with (
        server.websocket(as_="revoked", protocol="graphql-transport-ws") as modern,
        server.websocket(as_="revoked", protocol="graphql-ws") as legacy,
    ):
        for ws, kind in ((modern, "subscribe"), (legacy, "start")):
            query = f"subscription {kind.title()} {{ statusCountsChanged {{ status count }} }}"
            ws.send(json.dumps({"id": "1", "type": kind, "payload": {"query": query}}))
            assert next_message(ws)["type"] in ("next", "data")  # served

        as_operator(server, lambda services: services.tokens.revoke("acme", "rita"))
        # The README: running servers refuse it within five seconds of the revocation.
        server.clock.advance(seconds=Tokens.CACHE_FOR.total_seconds())

        for field, case in calls:
            body = call(server, case, journeys[field], "revoked")
            assert codes(body) == ["UNAUTHENTICATED"], (field, body)
            assert "revoked" in body["errors"][0]["message"], body
        fetched = httpx.get(
            f"{server.base_url}/graphql",
            params={"query": TOTAL},
            headers={"Authorization": authorization},
            timeout=30,
        )
        assert codes(fetched.json()) == ["UNAUTHENTICATED"], fetched.text
        upload = httpx.post(
            f"{server.base_url}/journeys/{segment}/audience",
            content=b"ann\nbob\n",
            headers={
                "Authorization": authorization,
                "Content-Type": "text/plain",
            },
            timeout=30,
        )
        assert upload.status_code == 401 and codes(upload.json()) == ["UNAUTHENTICATED"]

        # The sockets it opened are closed at the next check; a new one is refused.
        assert close_code(modern) == 4403
        assert close_code(legacy) == 4403
    url = server.base_url.replace("http", "ws") + "/graphql"
    init = {"type": "connection_init", "payload": {"authorization": authorization}}
    with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
        ws.send(json.dumps(init))
        assert close_code(ws) == 4403
    with connect(url, subprotocols=["graphql-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
        ws.send(json.dumps(init))
        refusal = json.loads(ws.recv(timeout=10))
        assert refusal["type"] == "connection_error", refusal
        assert refusal["payload"]["extensions"]["code"] == "UNAUTHENTICATED"

    # None of the refused calls did anything.
    assert server.data(TOTAL)["journeys"]["totalCount"] == total
    for field, case in calls:
        if case.state:
            found = server.data(STATE, {"id": journeys[field]})["journey"]
            assert found == {"name": "Matrix", "status": case.state}, (field, found)
