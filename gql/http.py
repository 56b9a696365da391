"""GraphQL over HTTP at /graphql, as the GraphQL-over-HTTP spec has it.

POST with an `application/json` body, or GET with `query`, `variables`,
`operationName` and `extensions` in the URL (queries only). The answer is
`application/graphql-response+json` when the client asks for it, with the
spec's status codes (400 for a document that does not parse or validate,
401 without a valid token), and `application/json` otherwise (200 for every
well-formed request, whatever its errors). Every refusal is a GraphQL
response with `errors[].extensions.code` (gql/refusals.py).

Order of the checks, cheapest first: the method, then the token (before any
body is read or any document parsed), then the body (its size is capped
while it streams in, gql/limits.py), then the document's size, then parsing
(with a token cap), validation and execution (gql/schema.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from domain.errors import Unauthenticated
from gql.context import Context
from gql.errors import INTERNAL_MESSAGE
from gql.rate_limits import RATE_LIMITED
from gql.refusals import (
    GRAPHQL_RESPONSE,
    JSON,
    BodyInterrupted,
    Refusal,
    json_response,
    media_type_for,
)

log = logging.getLogger(__name__)


class GraphQLView(Protocol):
    """What the HTTP half reads of the view at /graphql (gql/app.py's)."""

    @property
    def schema(self) -> BaseSchema: ...

    @property
    def graphql_ide(self) -> str | None:
        """The IDE a browser is shown on GET /graphql; None for none."""

    @property
    def graphql_ide_html(self) -> str: ...

    async def get_context(self, request: Request, response: Response) -> Context: ...


@dataclass(frozen=True)
class Params:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def _bad_request(message: str) -> Refusal:
    return Refusal(400, "BAD_REQUEST", message)


def _decode_json(raw: str | bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise _bad_request(f"{what} is not UTF-8 text.") from None
    except RecursionError:
        raise _bad_request(f"{what} is JSON nested too deeply to read.") from None
    except ValueError as error:
        raise _bad_request(f"{what} is not valid JSON ({error}).") from None


def _params(data: Any, source: str) -> Params:
    if isinstance(data, list):
        raise Refusal(
            400,
            "BATCHING_NOT_SUPPORTED",
            "This server does not take batched requests: send one operation per request, "
            "as a JSON object.",
        )
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise _bad_request(f"The {source} must be a JSON object with a 'query' string, not {kind}.")
    query = data.get("query")
    if query is None or query == "":
        raise _bad_request(f"The {source} has no 'query': the GraphQL document to run.")
    if not isinstance(query, str):
        raise _bad_request("'query' must be a string holding a GraphQL document.")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _bad_request("'operationName' must be a string or null.")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise _bad_request("'variables' must be a JSON object or null.")
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise _bad_request("'extensions' must be a JSON object or null.")
    return Params(query, variables, operation_name, extensions)


def _params_of_get(request: Request) -> Params:
    data: dict[str, Any] = dict(request.query_params)
    for name in ("variables", "extensions"):
        if data.get(name):
            data[name] = _decode_json(data[name], f"The '{name}' parameter")
        else:
            data.pop(name, None)
    return _params(data, "URL")


async def _params_of_post(request: Request) -> Params:
    content_type, _, parameters = request.headers.get("content-type", "").partition(";")
    if content_type.strip().lower() != JSON:
        raise Refusal(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Send the request as Content-Type: application/json (a JSON object with "
            "'query', and optionally 'variables' and 'operationName').",
        )
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise Refusal(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"The request body must be UTF-8, not {value.strip()}.",
            )
    body = await request.body()
    if not body:
        raise _bad_request("The request has no body: POST a JSON object with a 'query'.")
    return _params(_decode_json(body, "The request body"), "request body")


def _wants_ide(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and ("text/html" in accept or "*/*" in accept)
    )


def _is_request_error(result: ExecutionResult) -> bool:
    """Whether the errors came before execution (parse, validation, variables):
    the response then has no `data` and, in graphql-response+json, a 4xx status."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(error.path is None for error in errors)


def _status_of(result: ExecutionResult, media_type: str) -> int:
    if media_type == JSON or not _is_request_error(result):
        return 200
    codes = {(error.extensions or {}).get("code") for error in result.errors or ()}
    if codes == {"UNAUTHENTICATED"}:
        return 401
    return 400


class GraphQLOverHTTP:
    """The HTTP half of /graphql (the WebSocket half is Strawberry's, gql/live/)."""

    def __init__(self, view: GraphQLView) -> None:
        self.view = view

    async def __call__(self, request: Request) -> Response:
        media_type = media_type_for(request.headers.get("accept"))
        try:
            return await self._answer(request, media_type)
        except Refusal as refusal:
            return refusal.response(media_type)
        except (BodyInterrupted, ClientDisconnect):
            raise  # RequestLimits answers these, or nobody is left to answer
        except Exception:
            # Outside execution (where gql/errors.py masks it): the token
            # look-up, say, with the database down. Still a GraphQL response.
            log.exception("unexpected error while answering a GraphQL request over HTTP")
            return Refusal(500, "INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE).response(media_type)

    async def _answer(self, request: Request, media_type: str) -> Response:
        if request.method not in ("GET", "POST"):
            raise Refusal(
                405,
                "METHOD_NOT_ALLOWED",
                f"/graphql takes GET (queries) and POST, not {request.method}.",
                headers={"allow": "GET, POST"},
            )
        if self.view.graphql_ide and _wants_ide(request):
            return HTMLResponse(self.view.graphql_ide_html)
        sub_response = Response()
        context = await self.view.get_context(request, sub_response)
        try:
            await context.principal()
        except Unauthenticated as refusal:
            raise Refusal(
                401,
                refusal.code,
                refusal.message,
                headers={"www-authenticate": "Bearer"},
                json_status=200,
            ) from None
        if request.method == "GET":
            params = _params_of_get(request)
        else:
            params = await _params_of_post(request)
        allowed = {OperationType.QUERY}
        if request.method == "POST":
            allowed.add(OperationType.MUTATION)
        try:
            result = await self.view.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=params.extensions,
            )
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.SUBSCRIPTION:
                raise Refusal(
                    400,
                    "SUBSCRIPTION_NEEDS_WEBSOCKET",
                    "Subscriptions are not allowed over HTTP: open a WebSocket to /graphql "
                    "(graphql-transport-ws) and subscribe there.",
                ) from None
            raise Refusal(
                405,
                "METHOD_NOT_ALLOWED",
                "A mutation must be sent with POST, not GET.",
                headers={"allow": "POST"},
            ) from None
        except CannotGetOperationTypeError as error:
            raise Refusal(
                400, "GRAPHQL_VALIDATION_FAILED", error.as_http_error_reason(), json_status=200
            ) from None
        except MissingQueryError:
            raise _bad_request("The request has no 'query': the GraphQL document to run.") from None
        return self._response(result, media_type, sub_response)

    def _response(
        self, result: ExecutionResult, media_type: str, sub_response: Response
    ) -> Response:
        body: dict[str, Any] = dict(process_result(result))
        if _is_request_error(result):
            body.pop("data", None)
        headers = dict(sub_response.headers)
        headers.pop("content-length", None)
        headers.pop("content-type", None)
        status = _status_of(result, media_type)
        if wait := _rate_limited(result):
            status, headers["retry-after"] = 429, str(wait)
        return json_response(body, status, media_type, headers)


def _rate_limited(result: ExecutionResult) -> int | None:
    """The seconds to wait when the operation was refused by the rate limit."""
    for error in result.errors or ():
        extensions = error.extensions or {}
        if extensions.get("code") == RATE_LIMITED:
            return int(extensions.get("retryAfter") or 1)
    return None


__all__ = ["GRAPHQL_RESPONSE", "GraphQLOverHTTP"]
