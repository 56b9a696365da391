"""Every piece of Strawberry the service subclasses, overrides, calls or reads beyond its
documented API, checked by name: an upgrade that removes or renames one fails here,
naming it, rather than in a WebSocket test that times out.

pyproject.toml pins Strawberry's minor version (README, "Strawberry version"). To raise
the pin: install the new version, run this file, and read the new code behind each hook
that fails (and behind those that pass: a hook may keep its name and change its meaning)
before changing gql/live/transport.py, gql/live/multiplex.py, gql/live/subscription.py,
gql/app.py, gql/http.py or gql/schema.py to match.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from typing import Any

import pytest
from strawberry.types.graphql import OperationType

from gql.context import Context

VERSION = version("strawberry-graphql")

TRANSPORT = "gql/live/transport.py"
MULTIPLEX = "gql/live/multiplex.py"
SUBSCRIPTION = "gql/live/subscription.py"
APP = "gql/app.py"
SCHEMA = "gql/schema.py"
HTTP = "gql/http.py"

TRANSPORT_WS = "strawberry.subscriptions.protocols.graphql_transport_ws.handlers"
LEGACY_WS = "strawberry.subscriptions.protocols.graphql_ws.handlers"


def resolve(path: str) -> Any:
    """`module:Qual.name` to the object."""
    module, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split(".") if qualname else ():
        found = getattr(found, part)
    return found


def short(path: str) -> str:
    """How a hook is named: its class and attribute, or its module and name."""
    module, _, qualname = path.partition(":")
    return qualname if "." in qualname else f"{module.rpartition('.')[2]}.{qualname}"


@dataclass(frozen=True)
class Hook:
    name: str
    used_by: str
    check: Callable[[], None]  # raises (AssertionError, AttributeError...) with what changed


def exists(path: str, used_by: str) -> Hook:
    def check() -> None:
        resolve(path)  # an ImportError or AttributeError if it is gone

    return Hook(short(path), used_by, check)


def method(path: str, used_by: str, *params: str, exact: bool = True) -> Hook:
    """A method taking `params` after self: exactly those when we override it (the
    caller passes them to our override), at least those, in order, when we call it."""

    def check() -> None:
        function = resolve(path)
        assert callable(function), f"{short(path)} is not a method"
        taken = [p for p in inspect.signature(function).parameters if p != "self"]
        expected = list(params)
        if exact:
            assert taken == expected, f"it takes {taken}, not {expected}"
        else:
            assert taken[: len(expected)] == expected, f"it takes {taken}, not {expected} first"

    return Hook(short(path), used_by, check)


def keywords(path: str, used_by: str, *names: str) -> Hook:
    """A callable accepting these keyword arguments (among others)."""

    def check() -> None:
        taken = inspect.signature(resolve(path)).parameters
        missing = [name for name in names if name not in taken]
        assert not missing, f"it takes no {missing}"

    return Hook(short(path) + "(" + ", ".join(names) + ")", used_by, check)


def sets(path: str, used_by: str, arguments: dict[str, Any], *attributes: str) -> Hook:
    """Made with these keyword arguments (as the view makes it), it has these attributes."""

    def check() -> None:
        instance = resolve(path)(**arguments)
        missing = [name for name in attributes if not hasattr(instance, name)]
        assert not missing, f"an instance has no {missing}"

    return Hook(f"{short(path)}().{{{', '.join(attributes)}}}", used_by, check)


def fields(path: str, used_by: str, *names: str) -> Hook:
    def check() -> None:
        found = {f.name for f in dataclasses.fields(resolve(path))}
        missing = [name for name in names if name not in found]
        assert not missing, f"it has no field {missing}"

    return Hook(f"{short(path)}.{{{', '.join(names)}}}", used_by, check)


def contains(path: str, used_by: str, why: str, *snippets: str) -> Hook:
    """Its code still does what we rely on (our override is what it calls, say)."""

    def check() -> None:
        source = inspect.getsource(resolve(path))
        missing = [snippet for snippet in snippets if snippet not in source]
        assert not missing, f"its code no longer contains {missing}: {why}"

    return Hook(f"{short(path)} -> {', '.join(snippets)}", used_by, check)


def check_abstract_methods() -> None:
    adapter = resolve("strawberry.http.async_base_view:AsyncWebSocketAdapter")
    abstract = set(adapter.__abstractmethods__)
    assert abstract == {"iter_json", "send_json", "close"}, (
        f"its abstract methods are {sorted(abstract)}: _OutboxSocket implements "
        "iter_json, send_json and close only"
    )


def check_execution_results() -> None:
    from strawberry.types.execution import ExecutionResult, PreExecutionError

    assert issubclass(PreExecutionError, ExecutionResult), "PreExecutionError is no result"
    found = {f.name for f in dataclasses.fields(ExecutionResult)}
    assert {"data", "errors", "extensions"} <= found, f"ExecutionResult has {sorted(found)}"


def check_subscription_fields() -> None:
    from strawberry.types import get_object_definition

    from gql.events.types import StatusEventType
    from gql.schema import Subscription, schema

    assert schema.subscription is Subscription, "Schema.subscription is not the type given"
    definition = get_object_definition(schema.subscription, strict=True)
    by_name = {field.python_name: field for field in definition.fields}
    status_changed = by_name["status_changed"]
    assert status_changed.base_resolver is not None, "a field has no base_resolver"
    assert callable(status_changed.base_resolver.wrapped_func), "no base_resolver.wrapped_func"
    # The type is the field's graphql_type, which live_subscription gives it.
    assert status_changed.type is StatusEventType, (
        f"statusChanged's type is {status_changed.type!r}: StrawberryField no longer puts "
        "its graphql_type before its resolver's return annotation"
    )


TRANSPORT_WS_HANDLER_ARGS = {
    "view": object(),
    "websocket": object(),
    "context": Context(services=None, request=None),  # type: ignore[arg-type]
    "root_value": None,
    "schema": object(),
    "connection_init_wait_timeout": timedelta(seconds=1),
    "max_subscriptions_per_connection": 1,
}
LEGACY_WS_HANDLER_ARGS = {
    "view": object(),
    "websocket": object(),
    "context": Context(services=None, request=None),  # type: ignore[arg-type]
    "root_value": None,
    "schema": object(),
    "keep_alive": False,
    "keep_alive_interval": None,
    "max_subscriptions_per_connection": 1,
}

HOOKS = [
    # -- gql/live/transport.py: the socket Strawberry's handlers write to -----
    Hook("AsyncWebSocketAdapter abstract methods", TRANSPORT, check_abstract_methods),
    method("strawberry.http.async_base_view:AsyncWebSocketAdapter.__init__", TRANSPORT, "view"),
    contains(
        "strawberry.http.async_base_view:AsyncWebSocketAdapter.__init__",
        TRANSPORT,
        "_OutboxSocket passes on the socket's `view`",
        "self.view = view",
    ),
    method(
        "strawberry.http.async_base_view:AsyncWebSocketAdapter.iter_json",
        TRANSPORT,
        "ignore_parsing_errors",
    ),
    method("strawberry.http.async_base_view:AsyncWebSocketAdapter.send_json", TRANSPORT, "message"),
    method(
        "strawberry.http.async_base_view:AsyncWebSocketAdapter.close", TRANSPORT, "code", "reason"
    ),
    contains(
        "strawberry.asgi:ASGIWebSocketAdapter.iter_json",
        APP,
        "JourneysGraphQL.decode_json turns a frame nested too deeply into invalid JSON",
        "self.view.decode_json(",
        "except JSONDecodeError",
    ),
    method("strawberry.http.base:BaseView.decode_json", APP, "data"),
    # -- gql/live/transport.py: both protocols' handle_message ----------------
    method(f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_message", TRANSPORT, "message"),
    method(f"{LEGACY_WS}:BaseGraphQLWSHandler.handle_message", TRANSPORT, "message"),
    contains(
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle",
        TRANSPORT,
        "every frame must reach handle_message, which _LiveSocket checks first",
        "await self.handle_message(",
    ),
    contains(
        f"{LEGACY_WS}:BaseGraphQLWSHandler.handle",
        TRANSPORT,
        "every frame must reach handle_message, which _LiveSocket checks first",
        "await self.handle_message(",
    ),
    # -- gql/live/transport.py: graphql-transport-ws --------------------------
    sets(
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler",
        TRANSPORT,
        TRANSPORT_WS_HANDLER_ARGS,
        "view",
        "websocket",
        "context",
        "connection_acknowledged",
        "connection_init_timeout_task",
    ),
    method(f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle", TRANSPORT),
    method(
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_connection_init", TRANSPORT, "message"
    ),
    method(f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.run_operation", TRANSPORT, "operation"),
    method(
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_task_exception", TRANSPORT, "error"
    ),
    contains(
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_subscribe",
        TRANSPORT,
        "a subscribe message must reach our run_operation, which hands it to the Multiplexer",
        "self.run_operation(operation)",
    ),
    contains(
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_connection_init",
        TRANSPORT,
        "the token is read from connection_params; a socket is registered once acknowledged",
        "connection_params",
        "self.connection_acknowledged = True",
    ),
    contains(
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.send_message",
        TRANSPORT,
        "every frame Strawberry sends must go through the Outbox socket",
        "self.websocket.send_json",
    ),
    exists(f"{TRANSPORT_WS}:Operation", TRANSPORT),
    Hook(
        "Operation.__slots__ (id, query, variables, operation_name)",
        TRANSPORT,
        lambda: _has_slots(
            f"{TRANSPORT_WS}:Operation", "id", "query", "variables", "operation_name"
        ),
    ),
    method(f"{TRANSPORT_WS}:Operation.send_operation_message", TRANSPORT, "message"),
    exists(
        "strawberry.subscriptions.protocols.graphql_transport_ws.types:ConnectionInitMessage",
        TRANSPORT,
    ),
    # -- gql/live/transport.py: the legacy graphql-ws -------------------------
    sets(
        f"{LEGACY_WS}:BaseGraphQLWSHandler",
        TRANSPORT,
        LEGACY_WS_HANDLER_ARGS,
        "view",
        "websocket",
        "context",
        "connection_acknowledged",
        "tasks",
    ),
    method(f"{LEGACY_WS}:BaseGraphQLWSHandler.handle", TRANSPORT),
    method(f"{LEGACY_WS}:BaseGraphQLWSHandler.handle_connection_init", TRANSPORT, "message"),
    method(
        f"{LEGACY_WS}:BaseGraphQLWSHandler.handle_async_results",
        TRANSPORT,
        "operation_id",
        "query",
        "operation_name",
        "variables",
    ),
    method(f"{LEGACY_WS}:BaseGraphQLWSHandler.send_message", TRANSPORT, "message"),
    contains(
        f"{LEGACY_WS}:BaseGraphQLWSHandler.handle_start",
        TRANSPORT,
        "a start message must reach our handle_async_results, its task kept in `tasks`",
        "self.handle_async_results(",
        "self.tasks[operation_id]",
    ),
    contains(
        f"{LEGACY_WS}:BaseGraphQLWSHandler.handle_connection_init",
        TRANSPORT,
        "the token is read from connection_params; a socket is registered once acknowledged",
        "connection_params",
        "self.connection_acknowledged = True",
    ),
    contains(
        f"{LEGACY_WS}:BaseGraphQLWSHandler.send_message",
        TRANSPORT,
        "every frame Strawberry sends must go through the Outbox socket",
        "self.websocket.send_json",
    ),
    # -- gql/app.py: the view that makes the handlers --------------------------
    exists("strawberry.asgi:GraphQL.graphql_transport_ws_handler_class", APP),
    exists("strawberry.asgi:GraphQL.graphql_ws_handler_class", APP),
    contains(
        "strawberry.http.async_base_view:AsyncBaseHTTPView.run",
        APP,
        "the view must make its handlers from the class attributes JourneysGraphQL sets",
        "self.graphql_transport_ws_handler_class(",
        "self.graphql_ws_handler_class(",
    ),
    keywords(
        "strawberry.asgi:GraphQL.__init__",
        APP,
        "graphql_ide",
        "subscription_protocols",
        "keep_alive",
        "keep_alive_interval",
        "connection_init_wait_timeout",
        "max_subscriptions_per_connection",
    ),
    method("strawberry.asgi:GraphQL.get_context", APP, "request", "response"),
    method("strawberry.asgi:GraphQL.on_ws_connect", APP, "context"),
    exists("strawberry.exceptions:ConnectionRejectionError", APP),
    contains(
        "strawberry.asgi:GraphQL.__call__",
        APP,
        "JourneysGraphQL.__call__ answers HTTP itself and hands WebSockets on",
        'scope["type"] == "websocket"',
        "await self.run(ws_request)",
    ),
    # -- gql/http.py: GraphQL over HTTP, Strawberry's view left out -------------
    exists("strawberry.asgi:GraphQL.graphql_ide_html", HTTP),
    exists("strawberry.http:process_result", HTTP),
    Hook(
        "InvalidOperationTypeError().operation_type",
        HTTP,
        lambda: _has_attribute(
            "strawberry.schema.exceptions:InvalidOperationTypeError",
            "operation_type",
            OperationType.MUTATION,
        ),
    ),
    method("strawberry.schema.exceptions:CannotGetOperationTypeError.as_http_error_reason", HTTP),
    exists("strawberry.exceptions:MissingQueryError", HTTP),
    # -- gql/live/multiplex.py: running a subscription itself ------------------
    Hook("ExecutionResult, PreExecutionError", MULTIPLEX, check_execution_results),
    method(
        "strawberry:Schema.subscribe",
        MULTIPLEX,
        "query",
        "variable_values",
        "context_value",
        "root_value",
        "operation_name",
        exact=False,
    ),
    # -- gql/live/subscription.py: the fields live_subscription makes ----------
    Hook(
        "Schema.subscription, get_object_definition, StrawberryField.base_resolver.wrapped_func, "
        "subscription(graphql_type)",
        SUBSCRIPTION,
        check_subscription_fields,
    ),
    # -- gql/schema.py: the extensions and overrides of the schema -------------
    method("strawberry.extensions:SchemaExtension.on_parse", SCHEMA),
    method("strawberry.extensions:SchemaExtension.on_validate", SCHEMA),
    fields(
        "strawberry.types:ExecutionContext",
        SCHEMA,
        "query",
        "schema",
        "parse_options",
        "validation_rules",
        "graphql_document",
        "pre_execution_errors",
    ),
    contains(
        "strawberry.schema.schema:_parse_operation_document",
        SCHEMA,
        "ReportingParserCache's document stands for Strawberry's parse, with its options",
        "if execution_context.graphql_document is not None",
        "**execution_context.parse_options",
    ),
    contains(
        "strawberry.schema.schema:_run_validation",
        SCHEMA,
        "BoundedValidationCache's errors stand for Strawberry's validation",
        "execution_context.pre_execution_errors is None",
    ),
    method(
        "strawberry.schema.schema:validate_document",
        SCHEMA,
        "schema",
        "document",
        "validation_rules",
        exact=False,
    ),
    method(
        "strawberry:Schema.execute",
        SCHEMA,
        "query",
        "variable_values",
        "context_value",
        "root_value",
        "operation_name",
        "allowed_operation_types",
        "operation_extensions",
    ),
    method(
        "strawberry.schema.base:BaseSchema.process_errors", SCHEMA, "errors", "execution_context"
    ),
    contains(
        "strawberry.schema.base:BaseSchema._process_errors",
        SCHEMA,
        "JourneysSchema.process_errors is where errors get their codes",
        "self.process_errors(",
    ),
    exists("strawberry.schema.schema:DEFAULT_ALLOWED_OPERATION_TYPES", SCHEMA),
    method(
        "strawberry:Schema.stream",
        SCHEMA,
        "query",
        "variable_values",
        "context_value",
        "root_value",
        "operation_name",
        "operation_extensions",
        "allowed_operation_types",
    ),
    contains(
        "strawberry:Schema.subscribe",
        SCHEMA,
        "JourneysSchema.stream refuses early for subscriptions too",
        "self.stream(",
    ),
    contains(
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.run_operation",
        SCHEMA,
        "JourneysSchema.stream refuses early for whatever comes over graphql-transport-ws",
        "self.schema.stream(",
    ),
    contains(
        "strawberry.extensions:MaxTokensLimiter.on_operation",
        SCHEMA,
        "the token cap reaches the parser (and the parse cache's key) as parse_options",
        'parse_options["max_tokens"]',
    ),
    method(
        "strawberry.extensions.max_aliases:create_validator",
        SCHEMA,
        "max_alias_count",
        exact=False,
    ),
    method(
        "strawberry.extensions.query_depth_limiter:create_validator",
        SCHEMA,
        "max_depth",
        "should_ignore",
        exact=False,
    ),
]


def _has_attribute(path: str, name: str, *arguments: Any) -> None:
    instance = resolve(path)(*arguments)
    assert hasattr(instance, name), f"an instance has no {name}"


def _has_slots(path: str, *names: str) -> None:
    slots = set(getattr(resolve(path), "__slots__", ()))
    missing = [name for name in names if name not in slots]
    assert not missing, f"it has no {missing}"


@pytest.mark.parametrize("hook", HOOKS, ids=[hook.name for hook in HOOKS])
def test_strawberry_still_has(hook: Hook):
    problem: Exception | None = None
    try:
        hook.check()
    except (AssertionError, AttributeError, ImportError, TypeError, KeyError) as error:
        problem = error
    if problem is not None:
        what = (str(problem).splitlines() or [""])[0]
        pytest.fail(
            f"Strawberry {VERSION} changed `{hook.name}`, which {hook.used_by} relies on: "
            f"{type(problem).__name__}: {what}. Read Strawberry's new code for it and "
            f"adapt {hook.used_by} before raising the pin in pyproject.toml.",
            pytrace=False,
        )


def test_the_hooks_are_named_once():
    names = [hook.name for hook in HOOKS]
    assert len(names) == len(set(names))
