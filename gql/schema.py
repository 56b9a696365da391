"""The schema, with its caches and error codes."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES, validate_document
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from gql.customers.mutations import CustomerMutations
from gql.customers.queries import CustomerQueries
from gql.document_cache import (
    VALIDATED_BYTES,
    SizedCache,
    cached_parse,
    document_weight,
    kept,
)
from gql.email_senders import EmailSenderMutations, EmailSenderQueries
from gql.entry.mutations import EntryMutations
from gql.errors import give_code
from gql.events.queries import StatusEventQueries
from gql.events.subscriptions import StatusCountSubscriptions, StatusEventSubscriptions
from gql.journeys.mutations import JourneyMutations
from gql.journeys.queries import JourneyQueries
from gql.journeys.subscriptions import JourneySubscriptions
from gql.limits import (
    MAX_DOCUMENT_TOKENS,
    MAX_FRAGMENTS,
    MAX_SELECTIONS,
    document_problem,
    expanded_selections,
    variables_problem,
)
from gql.messages import MessageQueries
from gql.metrics import RequestMetrics
from gql.rate_limits import RateLimitMutations
from gql.scalars import DateTime
from gql.sending_rules import SendingRulesMutations, SendingRulesQueries
from gql.stats.subscriptions import JourneyStatsSubscriptions
from gql.viewer import ViewerQueries
from gql.webhooks import WebhookMutations, WebhookQueries


@strawberry.type
class Query(
    JourneyQueries,
    StatusEventQueries,
    ViewerQueries,
    WebhookQueries,
    CustomerQueries,
    MessageQueries,
    SendingRulesQueries,
    EmailSenderQueries,
):
    pass


@strawberry.type
class Mutation(
    JourneyMutations,
    EntryMutations,
    WebhookMutations,
    SendingRulesMutations,
    EmailSenderMutations,
    CustomerMutations,
):
    pass


@strawberry.type
class Subscription(
    StatusEventSubscriptions,
    StatusCountSubscriptions,
    JourneyStatsSubscriptions,
    JourneySubscriptions,
):
    pass


class ReportingParserCache(SchemaExtension):
    """Parsing through gql/document_cache.py's cache, bounded in bytes (Strawberry's
    ParserCache is bounded in entries: 256 large documents stayed in memory), the
    one `refused_early` parses through with the same options, so a document is
    parsed once. A document that does not parse is left to Strawberry's own
    parse step, which reports the syntax error: on the WebSocket path the
    cache's exception escaped it, and the client heard nothing."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = cached_parse(context.query, **context.parse_options)
        yield


# A document the parser cache keeps is the same object on every request, so
# its validation is kept under its identity (hashing a document walks all of
# it), per schema (one refuses introspection) and rules. An entry holds the
# document, which keeps its id from being reused, and weighs what it keeps alive.
_VALIDATED: SizedCache[
    tuple[int, int, tuple[type[ASTValidationRule], ...]],
    tuple[GraphQLSchema, DocumentNode, list[GraphQLError]],
] = SizedCache(VALIDATED_BYTES)


class BoundedValidationCache(SchemaExtension):
    """Strawberry's ValidationCache, bounded in bytes like the parser cache."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.query and kept(context.query):
            graphql_schema, rules = context.schema._schema, tuple(context.validation_rules)
            key = (id(graphql_schema), id(document), rules)
            found = _VALIDATED.get(key)
            if found is None:
                errors = validate_document(graphql_schema, document, rules)
                found = (graphql_schema, document, errors)
                _VALIDATED.put(key, found, document_weight(context.query, document))
            context.pre_execution_errors = found[2]
        yield


MAX_DEPTH = 10
MAX_ALIASES = 30

# Built once: a rule class made per request would be a new key for the
# validation cache every time, and the cache would never hit.
LIMIT_RULES: list[type[ASTValidationRule]] = [
    max_depth_rule(MAX_DEPTH, None),
    max_aliases_rule(MAX_ALIASES),
]


def refused_early(query: str | None, variables: Any) -> ExecutionResult | None:
    """A request error for a document or variables refused before validation,
    coercion or execution (gql/limits.py), on every transport; None when they
    may go on. The document's length is checked before it is parsed, its
    tokens while it is parsed, its fragments before it is validated (the
    validators recurse through fragment spreads)."""
    problem, code = None, "DOCUMENT_TOO_LARGE"
    if isinstance(query, str) and query:
        problem = document_problem(query)
        if problem is None:
            problem, code = _parsed_problem(query)
    if problem is None and isinstance(variables, Mapping):
        problem, code = variables_problem(variables), "BAD_REQUEST"
    if problem is None:
        return None
    return ExecutionResult(data=None, errors=[GraphQLError(problem, extensions={"code": code})])


def _parsed_problem(query: str) -> tuple[str | None, str]:
    try:
        document = cached_parse(query, max_tokens=MAX_DOCUMENT_TOKENS)
    except RecursionError:
        return (
            "The GraphQL document nests selections too deeply to parse.",
            "DOCUMENT_TOO_COMPLEX",
        )
    except GraphQLError as error:
        if "Document contains more than" in error.message:
            return (
                f"The GraphQL document has more than {MAX_DOCUMENT_TOKENS} tokens; "
                f"this server parses at most {MAX_DOCUMENT_TOKENS}.",
                "DOCUMENT_TOO_LARGE",
            )
        return None, ""  # a syntax error: Strawberry's parse step reports it
    fragments = sum(isinstance(d, FragmentDefinitionNode) for d in document.definitions)
    if fragments > MAX_FRAGMENTS:
        return (
            f"The GraphQL document defines {fragments} fragments; "
            f"this server takes at most {MAX_FRAGMENTS}.",
            "DOCUMENT_TOO_COMPLEX",
        )
    selections = expanded_selections(document)
    if selections is not None and selections > MAX_SELECTIONS:
        return (
            f"The GraphQL document selects more than {MAX_SELECTIONS} fields once its "
            "fragments are spread out; this server runs at most that many.",
            "DOCUMENT_TOO_COMPLEX",
        )
    return None, ""


class JourneysSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry's default logs every error with its traceback; refusals
        # are expected, so only what give_code finds unexpected is logged.
        for error in errors:
            give_code(error)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # A request that answers once (HTTP) cannot carry a subscription:
        # those are served over WebSocket (gql/transport.py). Refused here,
        # Strawberry answers 400 "subscriptions are not allowed when using POST".
        if refusal := refused_early(query, variable_values):
            return refusal
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed - {OperationType.SUBSCRIPTION},
            operation_extensions,
        )

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Any:
        # The WebSocket transports run every operation through here (and
        # `subscribe`): the same early refusals as `execute`, as the first result.
        if refusal := refused_early(query, variable_values):
            return _only(PreExecutionError(data=None, errors=refusal.errors))
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )


async def _only(result: PreExecutionError) -> AsyncGenerator[PreExecutionError, None]:
    yield result


def build_schema(public: bool = True) -> JourneysSchema:
    """The schema; not `public`, it refuses introspection (JOURNEYS_PUBLIC_SCHEMA)."""
    sealed: list[Any] = [] if public else [DisableIntrospection]
    return JourneysSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        scalar_overrides={datetime: DateTime},
        # Factories, not instances: each operation gets a fresh extension,
        # the caches behind them are shared.
        extensions=[
            # First: its time covers parsing and validation too.
            RequestMetrics,
            RateLimitMutations,
            # Before the parser cache: it sets the parser's token cap.
            lambda: MaxTokensLimiter(MAX_DOCUMENT_TOKENS),
            ReportingParserCache,
            lambda: AddValidationRules(LIMIT_RULES),
            BoundedValidationCache,
            *sealed,
        ],
    )


schema = build_schema()


@functools.cache
def schema_for(public: bool) -> JourneysSchema:
    """The public schema, or one that refuses introspection, built once."""
    return schema if public else build_schema(public=False)
