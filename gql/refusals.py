"""Refusals at the protocol level, answered as GraphQL responses.

Whatever is refused before a document runs (a body that is not JSON, too
large, a method or content type this endpoint does not take...) is answered
with `{"errors": [{"message": ..., "extensions": {"code": ...}}]}` and no
`data`, in the media type the client asked for (`media_type_for`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def media_type_for(accept: str | None) -> str:
    """The response media type for an Accept header: the supported one the
    client prefers (by q, then by order); application/json when it names
    neither, or says nothing (as the GraphQL-over-HTTP spec allows)."""
    best, best_q = JSON, -1.0
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        media = media.lower()
        if media == GRAPHQL_RESPONSE:
            candidate = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            candidate = JSON
        else:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and q > best_q:
            best, best_q = candidate, q
    return best


def json_response(
    body: Mapping[str, Any],
    status: int,
    media_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=dict(headers or {}),
        media_type=f"{media_type}; charset=utf-8",
    )


class BodyInterrupted(Exception):
    """The request body stopped being read (too large, too slow): raised from
    `receive` by gql/limits.py's RequestLimits, which answers it."""


class Refusal(Exception):
    """A request refused before it ran: an HTTP status, a code and a sentence."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
        json_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})
        # The status when the client takes application/json, if not `status`:
        # that media type answers 200 to a well-formed request whatever its errors.
        self.json_status = json_status

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "extensions": self.as_extensions()}]}

    def as_extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extensions}

    def response(self, media_type: str) -> Response:
        status = self.status
        if media_type == JSON and self.json_status is not None:
            status = self.json_status
        return json_response(self.body(), status, media_type, self.headers)
