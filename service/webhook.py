"""The `webhook` channel: one signed HTTP POST per message, to the workspace's endpoint.

What a receiver gets (README, "The webhook channel"):

- `POST <url>` with `Content-Type: application/json` and the body
  `{"deliveryId": "7f3c...e9a1", "journeyId": "...", "customerId": "ann",
  "template": "welcome", "channel": "webhook", "attempt": 1}` (compact JSON,
  keys in this order). `deliveryId` is the delivery's public id, 32 hex
  digits, random and stored with the message: the same on every attempt, so
  a receiver can drop a repeat, and unlike the row id (one sequence for
  every workspace) it tells a receiver nothing about others' messages;
- `X-Journeys-Timestamp`: Unix seconds when the attempt was signed;
- `X-Journeys-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the
  workspace's secret, of `timestamp + "." + body` (the body's exact bytes);
- `X-Journeys-Delivery` and `X-Journeys-Attempt`, the same values as in the body.

Any 2xx answer is a delivery; anything else (another status, a redirect, no
answer within the timeout, no connection, no endpoint configured) is a
failed attempt, retried by the dispatcher (service/processing.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence

import httpx

from domain.channels import attempt_error
from service.attempts import Attempt, Outcome
from service.clock import Clock

log = logging.getLogger("journeys.channel.webhook")

TIMESTAMP_HEADER = "X-Journeys-Timestamp"
SIGNATURE_HEADER = "X-Journeys-Signature"
DELIVERY_HEADER = "X-Journeys-Delivery"
ATTEMPT_HEADER = "X-Journeys-Attempt"
USER_AGENT = "journeys-webhook/1"
NO_ENDPOINT = "no webhook endpoint is configured for the workspace (setWebhookEndpoint)"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Journeys-Signature value: `sha256=` + hex HMAC-SHA256(secret, timestamp "." body)."""
    signed = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does (in constant time): does the signature header match?"""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def request_body(attempt: Attempt) -> bytes:
    """The POST's body: compact JSON, its keys in the README's order."""
    return json.dumps(
        {
            "deliveryId": attempt.shown_id,
            "journeyId": attempt.journey_id,
            "customerId": attempt.customer_id,
            "template": attempt.template,
            "channel": attempt.channel,
            "attempt": attempt.number,
            "subject": attempt.message.subject,
            "body": attempt.message.body,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


class WebhookSender:
    """POSTs a batch's webhook attempts concurrently, at most `concurrency` at once,
    each within `timeout_seconds` in all (connecting, sending, the answer's status)."""

    def __init__(self, clock: Clock, timeout_seconds: float, concurrency: int) -> None:
        self._clock = clock
        self._timeout = timeout_seconds
        self._concurrency = concurrency
        self._client: httpx.AsyncClient | None = None

    @property
    def timeout_seconds(self) -> float:
        return self._timeout

    @property
    def concurrency(self) -> int:
        return self._concurrency

    async def send_all(self, attempts: Sequence[Attempt]) -> list[Outcome]:
        """Every attempt's outcome, in the order the attempts ended."""
        if not attempts:
            return []
        gate = asyncio.Semaphore(self._concurrency)

        async def bounded(attempt: Attempt) -> Outcome:
            async with gate:
                return await self.send(attempt)

        tasks = [asyncio.ensure_future(bounded(attempt)) for attempt in attempts]
        return [await done for done in asyncio.as_completed(tasks)]

    async def send(self, attempt: Attempt) -> Outcome:
        endpoint = attempt.destination
        if endpoint is None:
            return Outcome(attempt, False, NO_ENDPOINT)
        body = request_body(attempt)
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(endpoint.secret, timestamp, body),
            DELIVERY_HEADER: attempt.shown_id,
            ATTEMPT_HEADER: str(attempt.number),
        }
        try:
            async with asyncio.timeout(self._timeout):
                # The answer's body is never read: its status is the whole outcome.
                async with self._http().stream(
                    "POST", endpoint.url, content=body, headers=headers
                ) as response:
                    status = response.status_code
        except TimeoutError:
            return Outcome(attempt, False, f"no answer within {self._timeout:g} s")
        except httpx.TimeoutException:
            return Outcome(attempt, False, f"no answer within {self._timeout:g} s")
        except httpx.ConnectError as error:
            return Outcome(attempt, False, attempt_error(f"could not connect: {error}"))
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return Outcome(attempt, False, attempt_error(f"{type(error).__name__}: {error}"))
        if 200 <= status < 300:
            return Outcome(attempt, True)
        return Outcome(attempt, False, f"HTTP {status}")

    def _http(self) -> httpx.AsyncClient:
        # Made on first use, inside the event loop that sends.
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(max_connections=self._concurrency),
                follow_redirects=False,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
