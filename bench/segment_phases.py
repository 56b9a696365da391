"""The segment-list phases of bench/audience.py: a list uploaded to
`POST /journeys/{id}/audience` as a streamed CSV, beside `COPY` of the same bytes
(peer_copy.py); then the START load of that list into its journey by the loader.

The journey is PAUSED straight after ACTIVATE: PAUSED keeps loading but holds its
customers at their first step, so the load is measured alone, and the journey, with
everyone inside, is the one the abort phase aborts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from harness import graphql, open_client

CREATE = "mutation($input: CreateJourneyInput!) { createJourney(input: $input) { id } }"
ACTIVATE = "mutation($id: ID!) { activateJourney(id: $id) { status } }"
PAUSE = "mutation($id: ID!) { pauseJourney(id: $id) { status } }"
ENTERED = "query($id: ID!) { journey(id: $id) { stats { entered } } }"
SEND = [{"type": "SEND", "channel": "log", "template": "offer"}]
CHUNK = 1 << 20


def csv_list(customers: int) -> bytes:
    """A list as partners export it: an id column among others."""
    rows = "".join(f"s{n},Customer {n},1990-05-{n % 28 + 1:02}\n" for n in range(customers))
    return ("id,name,birthday\n" + rows).encode()


@dataclass(frozen=True)
class Uploaded:
    journey_id: str
    ids_per_second: float
    seconds: float


async def upload_list(client: Any, base_url: str, headers: dict[str, str], body: bytes) -> Uploaded:
    """Create a segment journey and upload `body` to it; the client's time for the POST."""
    input = {"name": "Segment", "kind": "SEGMENT_SCHEDULED", "steps": SEND}
    journey_id: str = (await graphql(client, CREATE, {"input": input}))["createJourney"]["id"]

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), CHUNK):
            yield body[start : start + CHUNK]

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as http:
        answer = await http.post(
            f"{base_url}/journeys/{journey_id}/audience",
            content=chunks(),
            headers={**headers, "Content-Type": "text/csv"},
        )
    seconds = time.perf_counter() - started
    answer.raise_for_status()
    accepted = answer.json()["accepted"]
    expected = body.count(b"\n") - 1
    if accepted != expected:
        raise RuntimeError(f"the upload accepted {accepted} of {expected}: {answer.text[:300]}")
    return Uploaded(journey_id, accepted / seconds, seconds)


# Each phase opens its own connection: the upload and its COPY take long enough at a
# million ids for a connection kept from before to idle past uvicorn's keep-alive.


async def start_paused(base_url: str, headers: dict[str, str], journey_id: str) -> None:
    async with open_client("raw", base_url, headers, timeout=120) as client:
        await graphql(client, ACTIVATE, {"id": journey_id})
        await graphql(client, PAUSE, {"id": journey_id})


async def load_rate(
    base_url: str,
    headers: dict[str, str],
    journey_id: str,
    customers: int,
    timeout: float,
    alive: Callable[[], None],
) -> float:
    """Customers/s from now until everyone on the list has entered (stats.entered)."""
    async with open_client("raw", base_url, headers, timeout=120) as client:
        started = time.perf_counter()
        while True:
            stats = (await graphql(client, ENTERED, {"id": journey_id}))["journey"]["stats"]
            if stats["entered"] >= customers:
                return customers / (time.perf_counter() - started)
            alive()
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"the list did not load within {timeout} s: {stats}")
            await asyncio.sleep(0.2)
