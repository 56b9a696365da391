"""A message's subject and body: Liquid templates (docs/rules.md, "Messages").

A SEND's `subject` and `body` are Liquid (python-liquid), what Braze, Customer.io
and Dittofeed users already write. They are parsed when the journey is saved (a
template that does not parse is refused there, naming its node and line), and
rendered for each customer at the hand-over with three variables:

- `customer`: `id` and the profile's attributes as they are then
  (`customer.first_name`);
- `event`: the properties of the event that admitted the customer (empty for a
  segment's customers);
- `journey`: `name`.

A variable that is not there renders as nothing, as Liquid does. A template cannot
eat a worker: its loops, its output and its nesting are bounded (`LIMITS`), and a
render that fails or passes a limit fails that one message with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, Environment
from liquid.exceptions import LiquidError, ResourceLimitError

from domain.text import one_line

# Templates are short texts (domain.text.MAX_TEXT_LENGTH bounds them at save); these
# bound what rendering one may do, whatever it holds.
MAX_LOOP_ITERATIONS = 10_000  # all loops of one render together
MAX_OUTPUT_BYTES = 100_000  # an email body of 100 kB is already a very long one
MAX_NESTING = 30  # blocks inside blocks
MAX_LOCAL_BYTES = 1_000_000  # what `assign` and `capture` may hold
LIMITS = (
    f"at most {MAX_LOOP_ITERATIONS:,} loop iterations, {MAX_OUTPUT_BYTES:,} bytes of output "
    f"and {MAX_NESTING} nested blocks"
)
# How many parsed templates a process keeps: a journey's few, for many journeys.
PARSED_CACHE_SIZE = 2048


class _Environment(Environment):
    loop_iteration_limit = MAX_LOOP_ITERATIONS
    output_stream_limit = MAX_OUTPUT_BYTES
    block_nesting_limit = MAX_NESTING
    context_depth_limit = MAX_NESTING
    local_namespace_limit = MAX_LOCAL_BYTES


_ENVIRONMENT = _Environment()


@dataclass(frozen=True)
class Rendered:
    """A message as one customer gets it."""

    subject: str
    body: str


class RenderFailed(Exception):
    """A template could not be rendered for a customer: the message fails with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def template_problem(where: str, source: str) -> str | None:
    """Why `source` is not a template we can render (naming `where` and the line), or
    None."""
    try:
        _parsed(source)
    except LiquidError as error:
        return f"{where} is not a valid Liquid template: {_explained(error, source)}"
    return None


@dataclass(frozen=True)
class Variables:
    """What a template may read."""

    customer_id: str
    attributes: Mapping[str, Any]
    event: Mapping[str, Any] | None
    journey_name: str

    def as_context(self) -> dict[str, object]:
        return {
            "customer": {**self.attributes, "id": self.customer_id},
            "event": dict(self.event or {}),
            "journey": {"name": self.journey_name},
        }


def has_markup(source: str | None) -> bool:
    """Whether a template holds any Liquid: one without renders as itself."""
    return source is not None and ("{{" in source or "{%" in source)


def render(subject: str | None, body: str | None, variables: Variables) -> Rendered:
    """The message `variables` make of the templates, or RenderFailed."""
    context = variables.as_context()
    return Rendered(
        one_line(_render("the subject", subject, context)), _render("the body", body, context)
    )


def _render(what: str, source: str | None, context: dict[str, object]) -> str:
    if not source:
        return ""
    if not has_markup(source):
        return source
    try:
        return _parsed(source).render(**context)
    except ResourceLimitError as error:
        raise RenderFailed(f"{what} passed a template limit ({LIMITS}): {error.message}") from None
    except LiquidError as error:
        raise RenderFailed(f"{what} could not be rendered: {_explained(error, source)}") from None
    except (ArithmeticError, ValueError, TypeError, RecursionError) as error:
        # A filter given what it cannot take (a date filter on a list, a huge number).
        raise RenderFailed(f"{what} could not be rendered: {error}") from None


@lru_cache(maxsize=PARSED_CACHE_SIZE)
def _parsed(source: str) -> BoundTemplate:
    return _ENVIRONMENT.from_string(source)


def _explained(error: LiquidError, source: str) -> str:
    """The error's own sentence, and the line of `source` it is on."""
    message = str(error.message or type(error).__name__)
    token = error.token
    if token is None:
        return message
    if token.start_index < 0 or token.start_index >= len(source):  # it ran to the end
        return f"{message} (line {source.count(chr(10)) + 1}, at the end)"
    return f"{message} (line {source.count(chr(10), 0, token.start_index) + 1})"
