"""Every error a client sees carries `extensions.code`; nothing else leaks out."""

from __future__ import annotations

import logging

from graphql import GraphQLError, GraphQLSyntaxError

from domain.errors import DomainError
from gql.scalars import InvalidValue

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Something went wrong on our side; it has been logged."


def give_code(error: GraphQLError) -> None:
    """Set the error's code (and mask what we did not expect), in place.

    In place, because Strawberry hands the same error objects on to the
    HTTP and WebSocket transports after `Schema.process_errors`.
    """
    if error.extensions and "code" in error.extensions:
        return
    cause = _root_cause(error)
    if isinstance(cause, DomainError):
        error.message = cause.message
        error.extensions = {"code": cause.code, **cause.details()}
    elif isinstance(cause, InvalidValue):
        error.extensions = {"code": "VALIDATION_FAILED"}
    elif cause is not None:
        log.error("unexpected error while executing an operation", exc_info=cause)
        error.message = INTERNAL_MESSAGE
        error.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        error.original_error = None
    elif isinstance(error, GraphQLSyntaxError):
        error.extensions = {"code": "GRAPHQL_PARSE_FAILED"}
    else:
        error.extensions = {"code": "GRAPHQL_VALIDATION_FAILED"}


def _root_cause(error: GraphQLError) -> BaseException | None:
    cause: BaseException | None = error.original_error
    while isinstance(cause, GraphQLError):
        cause = cause.original_error
    return cause
