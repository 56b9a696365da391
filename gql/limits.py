"""Limits on what a client may send, checked before the work it would cost.

- At the HTTP door (`RequestLimits`, an ASGI middleware): the request body's
  size (413 as soon as the declared length or the bytes received pass
  `JOURNEYS_MAX_BODY_BYTES`, without reading the rest) and the time it may
  take to arrive (408 after `JOURNEYS_BODY_TIMEOUT_SECONDS`). The routes in
  `UNCAPPED_ROUTES` are the one exception, and have limits of their own.
- On a GraphQL request, HTTP or WebSocket (`document_problem`,
  `variables_problem`): the document's size and token count before it is
  parsed, and the variables' nesting and text before they are coerced.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.refusals import BodyInterrupted, Refusal, media_type_for

log = logging.getLogger(__name__)

# Routes whose request body is not capped here: (method, path pattern). The
# audience upload and the customer import stream bodies of any size and enforce
# their own limit (JOURNEYS_MAX_UPLOAD_BYTES).
# This is the one place that exempts a route from JOURNEYS_MAX_BODY_BYTES.
UNCAPPED_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"/journeys/[^/]+/audience")),
    ("POST", re.compile(r"/customers")),
)


def is_uncapped(method: str, path: str) -> bool:
    return any(method == m and pattern.fullmatch(path) for m, pattern in UNCAPPED_ROUTES)


# A document is refused before parsing when longer than this (characters) or
# when it holds more tokens; the dashboards' largest is a few hundred tokens.
MAX_DOCUMENT_CHARS = 100_000
MAX_DOCUMENT_TOKENS = 2_000
# Fragment definitions in one document: validation follows every spread.
MAX_FRAGMENTS = 100
# Fields selected once every fragment spread is replaced by its fragment: what
# validation and execution walk (a few fragments spread twice each double it).
MAX_SELECTIONS = 10_000
# Variables nested deeper than this are refused before coercion; the deepest
# input (a journey's content) is five levels.
MAX_VARIABLES_DEPTH = 32


class _BodyTooLarge(BodyInterrupted):
    pass


class _BodyTooSlow(BodyInterrupted):
    pass


class RequestLimits:
    """The request body's size and time, enforced while it streams in."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_seconds: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds

    def too_large(self) -> Refusal:
        return Refusal(
            413,
            "REQUEST_TOO_LARGE",
            f"The request body is larger than the {self.max_body_bytes} bytes this server "
            "accepts (JOURNEYS_MAX_BODY_BYTES).",
            headers={"connection": "close"},
            extensions={"limit": self.max_body_bytes},
        )

    def too_slow(self) -> Refusal:
        return Refusal(
            408,
            "REQUEST_TIMEOUT",
            f"The request body did not arrive within {self.body_timeout_seconds:g} seconds "
            "(JOURNEYS_BODY_TIMEOUT_SECONDS).",
            headers={"connection": "close"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_uncapped(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        accept = headers.get(b"accept", b"").decode("latin-1")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self.too_large().response(media_type_for(accept))(scope, receive, send)
            return

        loop = asyncio.get_running_loop()
        received = 0
        body_done = False
        deadline: float | None = None
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, deadline
            if body_done:
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.body_timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyTooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
                body_done = not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except (_BodyTooLarge, _BodyTooSlow) as error:
            refusal = self.too_large() if isinstance(error, _BodyTooLarge) else self.too_slow()
            log.info("refused a request to %s: %s", scope["path"], refusal.message)
            if not response_started:
                await refusal.response(media_type_for(accept))(scope, receive, send)
        except ClientDisconnect:
            # The client went away before its body was whole: nothing to answer.
            log.info("a client disconnected before sending its whole request to %s", scope["path"])


def document_problem(query: str) -> str | None:
    """Why a document is refused before parsing, if it is: size only; the
    token count is the parser's (`max_tokens`, see gql/schema.py)."""
    if len(query) > MAX_DOCUMENT_CHARS:
        return (
            f"The GraphQL document is {len(query)} characters long; this server parses "
            f"at most {MAX_DOCUMENT_CHARS}."
        )
    return None


def variables_problem(variables: Mapping[str, Any] | None) -> str | None:
    """Why variables are refused before coercion, if they are: nesting deeper
    than MAX_VARIABLES_DEPTH, or text that is not valid Unicode (a lone surrogate)."""
    if not variables:
        return None
    stack: list[tuple[Any, int]] = [(variables, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                return (
                    "A variable holds text that is not valid Unicode (a lone UTF-16 "
                    "surrogate such as \\ud800)."
                )
            continue
        if isinstance(value, Mapping):
            children: list[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_VARIABLES_DEPTH:
            return f"The variables are nested more than {MAX_VARIABLES_DEPTH} levels deep."
        stack.extend((child, depth + 1) for child in children)
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def expanded_selections(document: DocumentNode) -> int | None:
    """How many fields the document's operations select with every fragment
    spread replaced by its fragment, or its largest fragment does if more
    (capped just past MAX_SELECTIONS); None when
    a spread names a missing fragment or the fragments form a cycle, which
    validation reports. Iterative, and each fragment is counted once: neither a
    deep chain nor a fan-out of spreads costs more than the document's size."""
    fragments = {
        d.name.value: d.selection_set
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    own: dict[str, tuple[int, list[str]]] = {
        name: _own_selections(selection_set) for name, selection_set in fragments.items()
    }
    sizes: dict[str, int] = {}
    for start in fragments:
        if start in sizes:
            continue
        stack, on_path = [start], {start}
        while stack:
            name = stack[-1]
            pending = [s for s in own[name][1] if s not in sizes]
            for spread in pending:
                if spread not in own or spread in on_path:
                    return None
            if pending:
                stack.append(pending[0])
                on_path.add(pending[0])
                continue
            fields, spreads = own[name]
            sizes[name] = min(fields + sum(sizes[s] for s in spreads), MAX_SELECTIONS + 1)
            stack.pop()
            on_path.discard(name)
    # An unused fragment is validated too.
    total = max(sizes.values(), default=0)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            fields, spreads = _own_selections(definition.selection_set)
            if any(s not in sizes for s in spreads):
                return None
            total += fields + sum(sizes[s] for s in spreads)
    return min(total, MAX_SELECTIONS + 1)


def _own_selections(selection_set: SelectionSetNode) -> tuple[int, list[str]]:
    """The fields in a selection set (inline fragments and sub-selections
    included, spreads not), and the name of each fragment it spreads."""
    fields, spreads = 0, []
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                spreads.append(selection.name.value)
                continue
            if isinstance(selection, FieldNode):
                fields += 1
            if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                stack.append(selection.selection_set)
    return fields, spreads
