"""The schema, with its caches and error codes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from gql.audience.mutations import AudienceMutations
from gql.audience.subscriptions import AudienceSubscriptions
from gql.errors import give_code
from gql.events.queries import StatusEventQueries
from gql.events.subscriptions import StatusCountSubscriptions, StatusEventSubscriptions
from gql.journeys.mutations import JourneyMutations
from gql.journeys.queries import JourneyQueries
from gql.scalars import DateTime
from gql.viewer import ViewerQueries
from gql.webhooks import WebhookMutations, WebhookQueries


@strawberry.type
class Query(JourneyQueries, StatusEventQueries, ViewerQueries, WebhookQueries):
    pass


@strawberry.type
class Mutation(JourneyMutations, AudienceMutations, WebhookMutations):
    pass


@strawberry.type
class Subscription(StatusEventSubscriptions, StatusCountSubscriptions, AudienceSubscriptions):
    pass


class ReportingParserCache(ParserCache):
    """ParserCache that lets a document that does not parse reach Strawberry's own
    parse step, which reports the syntax error: on the WebSocket path the cache's
    exception escaped it, and the client heard nothing."""

    def on_parse(self) -> Iterator[None]:
        with contextlib.suppress(GraphQLError):
            self.execution_context.graphql_document = self.cached_parse_document(
                self.execution_context.query, **self.execution_context.parse_options
            )
        yield


MAX_DEPTH = 10
MAX_ALIASES = 30

# Built once: a rule class made per request would be a new key for the
# validation cache every time, and the cache would never hit.
LIMIT_RULES: list[type[ASTValidationRule]] = [
    max_depth_rule(MAX_DEPTH, None),
    max_aliases_rule(MAX_ALIASES),
]


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


def build_schema() -> JourneysSchema:
    return JourneysSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        scalar_overrides={datetime: DateTime},
        # Factories, not instances: each operation gets a fresh extension,
        # the caches behind them are shared.
        extensions=[
            lambda: ReportingParserCache(maxsize=256),
            lambda: AddValidationRules(LIMIT_RULES),
            lambda: ValidationCache(maxsize=256),
        ],
    )


schema = build_schema()
