"""Mutations over the per-token rate limit are refused before they run
(service/rate_limits.py): `RATE_LIMITED`, with `retryAfter` (seconds) in the
extensions; over HTTP the answer is 429 with a `Retry-After` header
(gql/http.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from domain.errors import Unauthenticated

RATE_LIMITED = "RATE_LIMITED"


class RateLimitMutations(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        services = getattr(execution.context, "services", None)
        if (
            services is not None
            and services.rate_limit.enabled
            and execution.operation_type is OperationType.MUTATION
        ):
            try:
                principal = await execution.context.principal()
            except Unauthenticated:
                principal = None  # the mutation's own refusal says why
            wait = await services.rate_limit.retry_after(principal) if principal else None
            if wait is not None:
                # A result set here is the answer: the operation does not run.
                execution.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"Too many changes from this token: wait {wait} s and try "
                            "again (JOURNEYS_MUTATION_RATE_LIMIT).",
                            extensions={"code": RATE_LIMITED, "retryAfter": wait},
                        )
                    ],
                )
        yield
