"""Many journeys of one workspace raced through two API processes on one PostgreSQL.

Sixteen clients send status transitions (some with `expectedRevision`) to two
real `journeys serve` processes at once, each request tagged with its own
`reason`. Then the status event log, read back over GraphQL from both
processes and straight from PostgreSQL, must be exactly what the answers say
happened: gap-free sequences, one event per successful answer and none per
refusal, every journey's events replaying to its status, sequences in
revision order per journey and in real-time order across the workspace; and a
live subscriber on each process must have seen that same log, in order.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.distributed.conftest import Cluster, wait_until
from tests.domain.spec import TRANSITION_TABLE

JOURNEYS = 40
HOT = 4  # journeys that a third of the requests pile onto
CLIENTS = 16
REQUESTS_PER_CLIENT = 25
ACTIONS = {  # mutation: the action it takes
    "activateJourney": "ACTIVATE",
    "pauseJourney": "PAUSE",
    "resumeJourney": "RESUME",
    "freezeJourney": "FREEZE",
    "closeJourney": "CLOSE",
    "reactivateJourney": "REACTIVATE",
}
RACED = ["pauseJourney", "resumeJourney", "freezeJourney", "closeJourney", "reactivateJourney"]
REFUSALS = {"REVISION_CONFLICT", "TRANSITION_NOT_ALLOWED"}

CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id revision } }"
TAKE = """mutation($id: ID!, $expected: Int, $reason: String) {{
  {name}(id: $id, expectedRevision: $expected, reason: $reason) {{ id status revision }} }}"""
REVISION = "query($id: ID!) { journey(id: $id) { revision } }"
EVENT_FIELDS = "sequence journeyId previousStatus status action reason actor { kind name }"
EVENTS = f"query($after: Int) {{ statusEvents(after: $after, first: 100) {{ {EVENT_FIELDS} }} }}"
SUBSCRIBE = f"subscription {{ statusChanged(after: 0) {{ {EVENT_FIELDS} }} }}"
FINAL = """query($id: ID!) { journey(id: $id) {
  status revision history(first: 100) { sequence } } }"""


@dataclass
class Outcome:
    """One status mutation as the client saw it."""

    reason: str  # unique per request: how its event, if any, is found
    journey_id: str
    action: str
    expected_revision: int | None
    sent: float  # time.monotonic() before sending ...
    answered: float  # ... and after the answer arrived
    answer: dict[str, Any] | None = None  # {id, status, revision} when it succeeded
    error: dict[str, Any] | None = None  # the first error otherwise


class Client:
    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def post(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, **variables: Any) -> Any:
        body = self.post(query, **variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def take(self, name: str, journey_id: str, reason: str, expected: int | None = None) -> Outcome:
        sent = time.monotonic()
        body = self.post(TAKE.format(name=name), id=journey_id, expected=expected, reason=reason)
        answered = time.monotonic()
        outcome = Outcome(reason, journey_id, ACTIONS[name], expected, sent, answered)
        if body.get("errors"):
            outcome.error = body["errors"][0]
        else:
            outcome.answer = body["data"][name]
        return outcome

    def close(self) -> None:
        self.http.close()


@contextmanager
def clients(bases: list[str], token: str) -> Iterator[list[Client]]:
    made = [Client(base, token) for base in bases]
    try:
        yield made
    finally:
        for client in made:
            client.close()


class Subscriber:
    """`statusChanged(after: 0)` on one open socket, collected by a thread of its own."""

    def __init__(self, base_url: str, ws: ClientConnection, token: str) -> None:
        self.base_url = base_url
        self.events: list[dict[str, Any]] = []
        self.other: list[dict[str, Any]] = []  # anything but `next`: must stay empty
        self._ws = ws
        self._stop = threading.Event()
        payload = {"authorization": f"Bearer {token}"}
        ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                message = json.loads(self._ws.recv(timeout=0.2))
            except TimeoutError:
                continue
            except Exception as error:  # the socket closed under us: record it
                self.other.append({"type": "closed", "error": repr(error)})
                return
            if message["type"] == "next":
                self.events.append(message["payload"]["data"]["statusChanged"])
            elif message["type"] not in ("ping", "pong"):
                self.other.append(message)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@contextmanager
def subscribed(bases: list[str], token: str) -> Iterator[list[Subscriber]]:
    with ExitStack() as stack:
        subscribers = []
        for base in bases:
            ws = stack.enter_context(
                connect(
                    base.replace("http", "ws") + "/graphql",
                    subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    open_timeout=10,
                )
            )
            subscribers.append(Subscriber(base, ws, token))
            stack.callback(subscribers[-1].stop)
        yield subscribers


def subscribers_registered(base_url: str) -> bool:
    return "journeys_subscribers 1" in httpx.get(f"{base_url}/metrics", timeout=5).text


def create_and_activate(api: list[Client]) -> tuple[list[str], list[Outcome]]:
    def one(index: int) -> tuple[str, Outcome]:
        client = api[index % 2]
        journey_id: str = client.data(
            CREATE,
            input={
                "name": f"Race {index}",
                "kind": "EVENT_TRIGGERED",
                "triggerEvent": "signup",
                "steps": [{"type": "SEND", "channel": "log", "template": "t"}],
            },
        )["createJourney"]["id"]
        # Activated through the other process than the one that created it.
        return journey_id, api[(index + 1) % 2].take("activateJourney", journey_id, f"a{index}")

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        made = list(pool.map(one, range(JOURNEYS)))
    for _, outcome in made:
        assert outcome.answer is not None, outcome.error
        assert outcome.answer["status"] == "ACTIVE" and outcome.answer["revision"] == 2
    return [journey_id for journey_id, _ in made], [outcome for _, outcome in made]


def race(bases: list[str], token: str, ids: list[str]) -> list[Outcome]:
    def client_run(number: int) -> list[Outcome]:
        chooser = random.Random(number)
        outcomes = []
        with clients(bases, token) as api:
            for index in range(REQUESTS_PER_CLIENT):
                journey_id = chooser.choice(ids[:HOT] if chooser.random() < 1 / 3 else ids)
                name = chooser.choice(RACED)
                reader, writer = chooser.sample(api, 2)  # each request to either process
                expected = None
                if chooser.random() < 0.4:  # read from one process, write to the other
                    expected = reader.data(REVISION, id=journey_id)["journey"]["revision"]
                reason = f"c{number}-{index}"
                outcomes.append(writer.take(name, journey_id, reason, expected))
        return outcomes

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return [outcome for run in pool.map(client_run, range(CLIENTS)) for outcome in run]


def read_log(api: list[Client]) -> list[dict[str, Any]]:
    """The whole log through `statusEvents` pages, alternating between the processes."""
    events: list[dict[str, Any]] = []
    while True:
        after = events[-1]["sequence"] if events else 0
        page = api[len(events) // 100 % 2].data(EVENTS, after=after)["statusEvents"]
        if not page:
            return events
        events.extend(page)


def test_racing_transitions_through_two_api_processes_keep_one_true_log(cluster: Cluster):
    started = time.monotonic()
    bases = [cluster.start_api(), cluster.start_api()]
    with subscribed(bases, cluster.token) as subscribers:
        for base in bases:
            wait_until(lambda b=base: subscribers_registered(b), 10, "the subscriptions")
        with clients(bases, cluster.token) as api:
            ids, activations = create_and_activate(api)
            outcomes = activations + race(bases, cluster.token, ids)
            log = read_log(api)
            finals = {
                journey_id: api[0].data(FINAL, id=journey_id)["journey"] for journey_id in ids
            }
        n = len(log)
        deadline = time.monotonic() + 15  # then compare what came, to show what is missing
        while time.monotonic() < deadline and any(len(s.events) < n for s in subscribers):
            time.sleep(0.05)
        time.sleep(0.2)  # room for a duplicate or a stray event to show up

    won = [o for o in outcomes if o.answer is not None]
    refused = [o for o in outcomes if o.error is not None]
    codes = Counter(o.error["extensions"].get("code") for o in refused if o.error)
    assert set(codes) <= REFUSALS, [o.error for o in refused if o.error]
    # The race was a race: both kinds of refusal happened, and many transitions won.
    assert codes["REVISION_CONFLICT"] > 0 and codes["TRANSITION_NOT_ALLOWED"] > 0, codes
    assert len(won) - JOURNEYS > 50, codes

    # 1. The log is gap-free and the same over GraphQL (both processes) and in PostgreSQL.
    assert [e["sequence"] for e in log] == list(range(1, n + 1))
    rows = cluster.sql(
        "SELECT sequence, journey_id, previous_status, status, action, reason, actor_kind, "
        "actor_name FROM status_events WHERE workspace_id = 'acme' ORDER BY sequence"
    )
    assert rows == [
        (
            e["sequence"],
            e["journeyId"],
            e["previousStatus"],
            e["status"],
            e["action"],
            e["reason"],
            e["actor"]["kind"],
            e["actor"]["name"],
        )
        for e in log
    ]
    assert cluster.sql("SELECT id, last_sequence FROM workspaces") == [("acme", n)]

    # 2. Exactly one event per successful answer, none per refusal, and it is that answer.
    by_reason = {o.reason: o for o in outcomes}
    assert len(by_reason) == len(outcomes)
    logged = Counter(e["reason"] for e in log)
    assert all(count == 1 for count in logged.values()), logged.most_common(3)
    assert set(logged) == {o.reason for o in won}
    assert n == len(won)
    sequence_of: dict[str, int] = {}
    for event in log:
        outcome = by_reason[event["reason"]]
        assert outcome.answer is not None
        assert event["journeyId"] == outcome.journey_id == outcome.answer["id"]
        assert event["action"] == outcome.action
        assert event["status"] == outcome.answer["status"]
        assert event["actor"] == {"kind": "USER", "name": "eddie"}
        sequence_of[outcome.reason] = event["sequence"]

    # 3. Per journey: the events replay to its status, and sequence order is revision order.
    events_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in log:
        events_of[event["journeyId"]].append(event)
    assert set(events_of) == set(ids)
    statuses = dict(cluster.sql("SELECT id, status FROM journeys"))
    revisions = dict(cluster.sql("SELECT id, revision FROM journeys"))
    for journey_id in ids:
        events = events_of[journey_id]
        assert events[0]["previousStatus"] == "DESIGNING"
        for before, after in pairwise(events):
            assert after["previousStatus"] == before["status"], (journey_id, before, after)
        final = finals[journey_id]
        assert events[-1]["status"] == final["status"] == statuses[journey_id]
        # Created at revision 1, and every write since was one of these transitions.
        assert final["revision"] == revisions[journey_id] == 1 + len(events)
        answered_revisions = [by_reason[e["reason"]].answer["revision"] for e in events]  # type: ignore[index]
        assert answered_revisions == list(range(2, 2 + len(events))), journey_id
        assert [h["sequence"] for h in final["history"]] == [e["sequence"] for e in events]

    # 4. Refusals were true when they were answered.
    for outcome in refused:
        assert outcome.error is not None
        extensions = outcome.error["extensions"]
        if extensions["code"] == "REVISION_CONFLICT":
            assert outcome.expected_revision is not None
            assert extensions["currentRevision"] != outcome.expected_revision
        else:  # TRANSITION_NOT_ALLOWED: the status it saw forbids the action, and it had it
            assert (extensions["status"], outcome.action) not in TRANSITION_TABLE, outcome
            had = {e["status"] for e in events_of[outcome.journey_id]}
            assert extensions["status"] in had, outcome

    # 5. Sequence order is commit order: a request answered before another was sent
    #    committed first, whichever process each went to, whatever journey.
    by_answer = sorted(won, key=lambda o: o.answered)
    highest_before, cursor = 0, 0
    for later in sorted(won, key=lambda o: o.sent):
        while cursor < len(by_answer) and by_answer[cursor].answered < later.sent:
            highest_before = max(highest_before, sequence_of[by_answer[cursor].reason])
            cursor += 1
        assert sequence_of[later.reason] > highest_before, later

    # 6. Each process's live subscriber saw that very log, in order, nothing else.
    for subscriber in subscribers:
        assert subscriber.other == [], (subscriber.base_url, subscriber.other[:3])
        assert subscriber.events == log, subscriber.base_url

    assert time.monotonic() - started < 60
