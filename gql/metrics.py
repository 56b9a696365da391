"""Counting and timing GraphQL queries and mutations for /metrics (service/metrics.py).

A schema extension around each operation: its name (bounded, see
`Metrics.request`), its outcome (OK, or the code of its first error) and the
time it took, parsing and validation included. Subscriptions are counted as
subscribers instead (gql/app.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


class RequestMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        execution = self.execution_context
        context = execution.context
        services = getattr(context, "services", None)
        if services is None:
            return
        try:
            if execution.operation_type is OperationType.SUBSCRIPTION:
                return
        except RuntimeError:  # no operation could be read from the document
            pass
        result = execution.result
        errors = (result.errors if result is not None else None) or execution.pre_execution_errors
        outcome = "OK"
        if errors:
            outcome = str((errors[0].extensions or {}).get("code") or "ERROR")
        services.metrics.request(execution.operation_name, outcome, time.perf_counter() - started)
